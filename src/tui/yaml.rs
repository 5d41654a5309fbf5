//! YAML text for the diff and the editor: emit manifests as multi-document YAML and parse an
//! edited text back, with errors located by line and column.
//!
//! Must not: touch files.

use serde_json::Value;

/// A parse problem in edited YAML, 1-based position when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// Manifests as YAML documents separated by `---`. Empty input gives an empty string.
pub fn to_yaml(manifests: &[Value]) -> String {
    let mut out = String::new();
    for (i, m) in manifests.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        match serde_saphyr::to_string(m) {
            Ok(s) => out.push_str(&s),
            Err(e) => out.push_str(&format!("# cannot render manifest {i} as YAML: {e}\n")),
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Parse edited YAML back into manifests. Every document must be a mapping with `apiVersion`
/// and `kind`; empty documents are skipped.
pub fn parse_manifests(text: &str) -> Result<Vec<Value>, YamlError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line() as usize, l.column() as usize)).unwrap_or((0, 0));
        let message = e.to_string().lines().next().unwrap_or("invalid YAML").to_string();
        YamlError { line, column, message }
    })?;
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        match &d {
            Value::Null => continue,
            Value::Object(m)
                if m.get("kind").is_some_and(Value::is_string) && m.get("apiVersion").is_some_and(Value::is_string) =>
            {
                out.push(d)
            }
            _ => {
                return Err(YamlError {
                    line: doc_start_line(text, i),
                    column: 1,
                    message: format!("document {} is not a Kubernetes object (needs apiVersion and kind)", i + 1),
                });
            }
        }
    }
    Ok(out)
}

/// 1-based line where document `index` starts (after the index-th `---`).
fn doc_start_line(text: &str, index: usize) -> usize {
    if index == 0 {
        return 1;
    }
    text.lines().enumerate().filter(|(_, l)| l.trim_end() == "---").nth(index - 1).map(|(n, _)| n + 2).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_documents() {
        let a = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}});
        let b = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "rules": [{"verbs": ["get"]}]});
        let text = to_yaml(&[a.clone(), b.clone()]);
        assert!(text.contains("---\n"));
        assert_eq!(parse_manifests(&text).unwrap(), vec![a, b]);
        assert_eq!(to_yaml(&[]), "");
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = parse_manifests("apiVersion: v1\nkind: Role\nrules: [get\n").unwrap_err();
        assert!(e.line >= 3, "{e:?}");
        let e = parse_manifests("apiVersion: v1\nkind: Role\n---\n- just a list\n").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("document 2"));
    }
}
