//! `--approve ROLE=NAME` checked against the runbook before step 1: a blank name, a role the
//! runbook does not have, a role given twice, or (with `distinct_people = true`) one person
//! for two roles of a step would otherwise be noticed only when the run reaches the sign-off,
//! after the steps before it (freeze-writes...) have run.

use super::{Action, Runbook};

/// Whether `name` can stand for a person: not blank, no control characters.
pub fn usable_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a sign-off needs the name of the person".into());
    }
    if name.chars().any(char::is_control) {
        return Err("a sign-off name may not hold control characters".into());
    }
    Ok(name)
}

/// Two names that stand for the same person (case and surrounding blanks aside).
pub fn same_person(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Runbook {
    /// Every role some `approve` step of this runbook asks for, in step order, each once.
    pub fn sign_off_roles(&self) -> Vec<&str> {
        let mut roles: Vec<&str> = Vec::new();
        for s in &self.steps {
            if let Action::Approve(rs) = &s.action {
                for r in rs {
                    if !roles.contains(&r.as_str()) {
                        roles.push(r);
                    }
                }
            }
        }
        roles
    }

    /// Checks the sign-offs given up front (`--approve ROLE=NAME`); the error names the flag.
    pub fn check_sign_offs(&self, given: &[(String, String)]) -> Result<(), String> {
        let roles = self.sign_off_roles();
        for (i, (role, name)) in given.iter().enumerate() {
            let flag = format!("--approve {role}={}", crate::text::plain(name));
            usable_name(name).map_err(|why| format!("{flag}: {why}"))?;
            if !roles.contains(&role.as_str()) {
                return Err(if roles.is_empty() {
                    format!(
                        "{flag}: the runbook has no sign-off step (no step has approve = [...])"
                    )
                } else {
                    format!(
                        "{flag}: the runbook has no sign-off role `{role}` (its roles: {})",
                        roles.join(", ")
                    )
                });
            }
            if given[..i].iter().any(|(r, _)| r == role) {
                return Err(format!("{flag}: role {role} is given twice"));
            }
        }
        if self.distinct_people {
            for s in &self.steps {
                let Action::Approve(rs) = &s.action else {
                    continue;
                };
                let signed: Vec<&(String, String)> =
                    given.iter().filter(|(r, _)| rs.contains(r)).collect();
                for (i, (role, name)) in signed.iter().enumerate() {
                    if let Some((other, _)) = signed[..i].iter().find(|(_, n)| same_person(n, name))
                    {
                        return Err(format!(
                            "--approve {role}=…: the same person signs {other} of step {} too, and this runbook wants distinct people (distinct_people = true)",
                            s.id
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn runbook(distinct: bool) -> Runbook {
        let text = format!(
            "[runbook]\nname = \"r\"\ndistinct_people = {distinct}\n\n\
             [[step]]\nid = \"go\"\napprove = [\"dba\", \"owner\"]\n\n\
             [[step]]\nid = \"late\"\napprove = [\"qa\"]\n"
        );
        Runbook::parse("rb.toml", &text, &BTreeMap::new()).unwrap()
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(r, n)| (r.to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn blank_unknown_and_repeated_sign_offs_are_refused_up_front() {
        let rb = runbook(false);
        assert_eq!(rb.sign_off_roles(), ["dba", "owner", "qa"]);
        assert!(
            rb.check_sign_offs(&given(&[("dba", "Ann"), ("qa", "Bo")]))
                .is_ok()
        );
        for (pairs, says) in [
            (vec![("dba", "")], "needs the name of the person"),
            (vec![("owner", "   ")], "needs the name of the person"),
            (vec![("dba", "a\u{1b}[2Jb")], "control characters"),
            (
                vec![("dbx", "Ann")],
                "no sign-off role `dbx` (its roles: dba, owner, qa)",
            ),
            (
                vec![("dba", "Ann"), ("dba", "Bo")],
                "role dba is given twice",
            ),
        ] {
            let err = rb.check_sign_offs(&given(&pairs)).unwrap_err();
            assert!(err.contains(says), "{pairs:?}: {err}");
            assert!(!err.contains('\u{1b}'), "{err}");
        }
    }

    #[test]
    fn one_person_for_two_roles_is_a_runbook_choice() {
        let two = given(&[("dba", "Ann"), ("owner", " ann ")]);
        assert!(runbook(false).check_sign_offs(&two).is_ok());
        let err = runbook(true).check_sign_offs(&two).unwrap_err();
        assert!(err.contains("distinct people"), "{err}");
        // Different steps may share a person.
        let ok = given(&[("dba", "Ann"), ("qa", "Ann")]);
        assert!(runbook(true).check_sign_offs(&ok).is_ok());
    }
}
