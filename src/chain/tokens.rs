//! Token counting for accounting and the context-reduction figures: OpenAI's `o200k_base`
//! encoding (compiled in, offline). For other model families it is an estimate; servers'
//! own usage numbers are recorded next to it when they report them.

/// Number of `o200k_base` tokens in `text`.
pub fn count(text: &str) -> u64 {
    let bpe = tiktoken_rs::o200k_base_singleton();
    u64::try_from(bpe.encode_ordinary(text).len()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_grow_with_text() {
        assert_eq!(super::count(""), 0);
        let one = super::count("get pods in namespace shop");
        assert!(one > 3 && one < 10, "{one}");
        assert!(super::count(&"get pods in namespace shop ".repeat(10)) > 9 * one);
    }
}
