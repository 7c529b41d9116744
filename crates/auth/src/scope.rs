//! The Docker token-auth `scope` grammar: `repository:<name>:<action>[,<action>...]`, several
//! scopes separated by spaces (or sent as repeated `scope` parameters). Also the `access`
//! entries of the JWT, which use the same three parts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope {0:?} is not of the form type:name:actions")]
pub struct ScopeError(pub String);

/// Parses one `scope` parameter, which may hold several space-separated scopes. The name may
/// itself contain ':' only in a `host:port/` prefix, which registries do not use, so the
/// resource type is the first field and the actions the last.
pub fn parse(scope: &str) -> Result<Vec<Access>, ScopeError> {
    scope
        .split_whitespace()
        .map(|one| {
            let (kind, rest) = one.split_once(':').ok_or_else(|| ScopeError(one.to_owned()))?;
            let (name, actions) = rest.rsplit_once(':').ok_or_else(|| ScopeError(one.to_owned()))?;
            if kind.is_empty() || name.is_empty() {
                return Err(ScopeError(one.to_owned()));
            }
            // Each action once, however often it is asked for: every one is checked, then
            // written into the token.
            let mut actions: Vec<String> = actions.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect();
            actions.sort();
            actions.dedup();
            Ok(Access { kind: kind.to_owned(), name: name.to_owned(), actions })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_docker_scopes() {
        let parsed = parse("repository:team/filter:pull,push registry:catalog:*").unwrap();
        assert_eq!(
            parsed[0],
            Access {
                kind: "repository".into(),
                name: "team/filter".into(),
                actions: vec!["pull".into(), "push".into()]
            }
        );
        assert_eq!(parsed[1].kind, "registry");
        assert_eq!(parse("repository:a:push,pull,push,pull").unwrap()[0].actions, ["pull", "push"]);
        assert!(parse("repository").is_err());
        assert!(parse(":x:pull").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(input in "\\PC{0,80}") {
            let _ = parse(&input);
        }
    }
}
