//! A small deterministic YAML emitter for `serde_json::Value` manifests that can put comments
//! beside any node (RBAC rules cannot carry annotations, so a rule's evidence travels as a
//! comment on the line above it). Keys come out in the map's order (sorted), strings are plain
//! when unambiguous and JSON-quoted otherwise, so the text re-parses to the same value.

use std::collections::BTreeMap;

use serde_json::Value;

/// Comments keyed by node path (`rules[2]`, `spec.egress[0]`, `metadata.name`).
pub type Comments = BTreeMap<String, Vec<String>>;

/// Emit one document (no `---`), with `comments` placed on the lines above the nodes they name.
pub fn to_yaml(value: &Value, comments: &Comments) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(&mut out, map, 0, "", comments),
        Value::Array(items) if !items.is_empty() => emit_seq(&mut out, items, 0, "", comments),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

fn push_comments(out: &mut String, indent: usize, path: &str, comments: &Comments) {
    if let Some(lines) = comments.get(path) {
        for line in lines {
            out.push_str(&" ".repeat(indent));
            out.push_str("# ");
            out.push_str(&one_line(line));
            out.push('\n');
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn emit_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize, path: &str, comments: &Comments) {
    for (key, value) in map {
        let p = child_path(path, key);
        push_comments(out, indent, &p, comments);
        out.push_str(&" ".repeat(indent));
        out.push_str(&key_text(key));
        out.push(':');
        emit_value_after_key(out, value, indent, &p, comments);
    }
}

fn emit_value_after_key(out: &mut String, value: &Value, indent: usize, path: &str, comments: &Comments) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(out, m, indent + 2, path, comments);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            emit_seq(out, items, indent, path, comments);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn emit_seq(out: &mut String, items: &[Value], indent: usize, path: &str, comments: &Comments) {
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        push_comments(out, indent, &p, comments);
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                let mut first = true;
                for (key, value) in m {
                    let kp = child_path(&p, key);
                    if first {
                        if comments.contains_key(&kp) {
                            out.push('\n');
                            push_comments(out, indent + 2, &kp, comments);
                            out.push_str(&" ".repeat(indent + 2));
                        } else {
                            out.push(' ');
                        }
                        first = false;
                    } else {
                        push_comments(out, indent + 2, &kp, comments);
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&key_text(key));
                    out.push(':');
                    emit_value_after_key(out, value, indent + 2, &kp, comments);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_seq(out, inner, indent + 2, &p, comments);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn key_text(key: &str) -> String {
    if is_plain_safe(key) { key.to_string() } else { quoted(key) }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if is_plain_safe(s) {
                s.clone()
            } else {
                quoted(s)
            }
        }
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

/// JSON string syntax is a valid YAML double-quoted scalar.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Plain (unquoted) only for strings that cannot be read as anything else by a YAML 1.1 or 1.2
/// parser: letters/digits and `-_./:` inside, starting with a letter or `/`, not a bool/null
/// word, not number-like, no `: ` or ` #`.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if !(first.is_ascii_alphabetic() || first == '/') {
        return false;
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':')) {
        return false;
    }
    if s.ends_with(':') || s.contains(": ") {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf") {
        return false;
    }
    // Sexagesimal-looking or float-looking words (`1e3` cannot start with a letter, but `e1` is fine).
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn reparse(text: &str) -> Value {
        let opts = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options::<Value>(text, opts).expect("emitted YAML parses")
    }

    #[test]
    fn role_with_rule_comments() {
        let role = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "r", "namespace": "shop"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["leader"], "verbs": ["get", "update"]}
            ]
        });
        let mut comments = Comments::new();
        comments.insert("rules[1]".into(), vec!["240x get,update leases name=leader".into()]);
        comments.insert("rules[0]".into(), vec!["12x list".into(), "30x watch".into()]);
        let text = to_yaml(&role, &comments);
        assert_eq!(reparse(&text), role);
        let expected = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: shop\nrules:\n# 12x list\n# 30x watch\n- apiGroups:\n  - \"\"\n  resources:\n  - configmaps\n  verbs:\n  - get\n  - list\n  - watch\n# 240x get,update leases name=leader\n- apiGroups:\n  - coordination.k8s.io\n  resourceNames:\n  - leader\n  resources:\n  - leases\n  verbs:\n  - get\n  - update\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn comments_on_nested_keys_and_first_keys_of_items() {
        let v = json!({"spec": {"containers": [{"name": "c", "securityContext": {"runAsNonRoot": true}}]}});
        let mut comments = Comments::new();
        comments.insert("spec.containers[0].name".into(), vec!["first key".into()]);
        comments.insert("spec.containers[0].securityContext.runAsNonRoot".into(), vec!["no uid 0 seen\nin 2h".into()]);
        let text = to_yaml(&v, &comments);
        assert_eq!(reparse(&text), v);
        assert!(text.contains("  -\n    # first key\n    name: c\n"), "{text}");
        assert!(text.contains("      # no uid 0 seen in 2h\n      runAsNonRoot: true\n"), "{text}");
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        let v = json!({"a": ["*", "yes", "n", "0644", "1.5", "", "a: b", "#x", "/api*", "x #y", "null", "~", "-", "@x", "é"], "b": {}, "c": [], "d": null, "e": 0.5, "f": false});
        let text = to_yaml(&v, &Comments::new());
        assert_eq!(reparse(&text), v);
    }

    proptest! {
        #[test]
        fn round_trips_arbitrary_values(v in arb_value()) {
            let text = to_yaml(&v, &Comments::new());
            prop_assert_eq!(reparse(&text), v);
        }
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| json!(i)),
            "[ -~]{0,12}".prop_map(Value::String),
            "[a-z*/:.#-]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z*: -]{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
