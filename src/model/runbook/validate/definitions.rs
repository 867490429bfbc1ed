//! `[vars]`, `[secrets]` and `[connections]`: the names templates and steps refer to.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::context::Ctx;
use crate::runbook::Connection;
use crate::runbook::Template;
use crate::runbook::spec::{FileSpec, SecretSpec, VarValue};
use crate::runbook::template;

/// The most all vars together may hold once resolved: each is bounded by
/// [`crate::runbook::template::MAX_EXPANDED`], and many vars built from each other must not add up to gigabytes.
const MAX_VARS_TOTAL: usize = 16 * 1024 * 1024;

/// `[vars]` as text, each `${vars.NAME}` in a value resolved (in any order of definition; a
/// cycle is an error at the reference that closes it), with `overrides` (`--var`) replacing
/// or adding values. An override is a value, taken as it is: it is never resolved. A var may
/// not hold a secret (vars are shown), nor a NUL byte (no command, environment variable or
/// SQL string can carry one).
pub(super) fn vars(
    cx: &mut Ctx<'_>,
    spec: &FileSpec,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut r = Resolver {
        spec: &spec.vars,
        done: overrides.clone(),
        total: 0,
    };
    for name in spec.vars.keys() {
        r.resolve(cx, name);
    }
    for (name, value) in &r.done {
        if value.contains('\0') {
            let at = match (overrides.contains_key(name), spec.vars.get(name)) {
                (false, Some(v)) => v.span(),
                _ => 0..0,
            };
            let given = if overrides.contains_key(name) {
                format!("--var {name}=…")
            } else {
                format!("var `{name}`")
            };
            cx.err(
                at,
                format!(
                    "{given} holds a NUL byte, which no command, environment variable or SQL string can carry"
                ),
            );
        }
    }
    r.done
}

/// Resolves `[vars]` values that refer to other vars.
struct Resolver<'s> {
    spec: &'s BTreeMap<String, Spanned<VarValue>>,
    /// Resolved values (the overrides from the start).
    done: BTreeMap<String, String>,
    /// Bytes resolved so far.
    total: usize,
}

/// A var being resolved: its name and the vars it refers to still to resolve (last first),
/// each with the reference's offset and length in its value.
struct Pending {
    name: String,
    deps: Vec<(String, usize, usize)>,
    cycle: bool,
}

impl Resolver<'_> {
    /// Resolves `name` and everything it refers to, depth first without recursion (a chain of
    /// thousands of vars must not overflow the stack).
    fn resolve(&mut self, cx: &mut Ctx<'_>, name: &str) {
        if self.done.contains_key(name) {
            return;
        }
        let mut stack = vec![self.pending(name)];
        let mut on_stack = BTreeSet::from([name.to_string()]);
        while let Some(top) = stack.last_mut() {
            let Some((dep, offset, len)) = top.deps.pop() else {
                let Some(p) = stack.pop() else { break };
                on_stack.remove(&p.name);
                self.finish(cx, p);
                continue;
            };
            if self.done.contains_key(&dep) || !self.spec.contains_key(&dep) {
                continue;
            }
            if on_stack.contains(&dep)
                && let Some(first) = stack.iter().position(|p| p.name == dep)
            {
                let mut path: Vec<&str> = stack[first..].iter().map(|p| p.name.as_str()).collect();
                path.push(&dep);
                let here = &stack[stack.len() - 1].name;
                let reference = format!("${{vars.{dep}}}");
                if let Some(v) = self.spec.get(here) {
                    let at = cx.within(v.span(), &v.get_ref().0, offset, len);
                    cx.err(
                        at,
                        format!(
                            "`{reference}` makes a cycle: {} (a var cannot refer to itself, directly or through others)",
                            path.join(" → ")
                        ),
                    );
                }
                if let Some(top) = stack.last_mut() {
                    top.cycle = true;
                }
                continue;
            }
            on_stack.insert(dep.clone());
            stack.push(self.pending(&dep));
        }
    }

    /// `name` with the vars its value refers to.
    fn pending(&self, name: &str) -> Pending {
        let text = self.spec.get(name).map_or("", |v| v.get_ref().0.as_str());
        let mut deps = var_references(text);
        deps.reverse();
        Pending {
            name: name.to_string(),
            deps,
            cycle: false,
        }
    }

    /// Resolves `p`'s value from the values done; reports what does not resolve.
    fn finish(&mut self, cx: &mut Ctx<'_>, p: Pending) {
        let spec = self.spec;
        let Some(v) = spec.get(&p.name) else {
            return;
        };
        let text = &v.get_ref().0;
        let kept = |r: &mut Self| {
            r.done.insert(p.name.clone(), text.clone());
        };
        if p.cycle || !text.contains("${") {
            if !p.cycle {
                self.total += text.len();
            }
            kept(self);
            return;
        }
        match Template::parse(text, &self.done, &cx.secret_names()) {
            Err(e) => {
                let at = cx.within(v.span(), text, e.offset, e.len);
                cx.err(at, format!("var `{}`: {}", p.name, e.message));
                kept(self);
            }
            Ok(t) if t.has_secrets() => {
                let offset = text.find("${secrets.").unwrap_or(0);
                let len = text[offset..]
                    .find('}')
                    .map_or(text.len() - offset, |c| c + 1);
                let at = cx.within(v.span(), text, offset, len);
                cx.err(
                    at,
                    format!(
                        "var `{}` cannot hold a secret: vars are shown on screen, in the journal and in the environment (CUTOVER_VAR_*); write the `${{secrets.NAME}}` where it is used",
                        p.name
                    ),
                );
                kept(self);
            }
            Ok(t) => {
                let value = t.display();
                self.total += value.len();
                if self.total > MAX_VARS_TOTAL {
                    cx.err(
                        v.span(),
                        format!(
                            "var `{}`: the vars grow past {} MiB once their references are filled in: keep bulk data in a file the steps read",
                            p.name,
                            MAX_VARS_TOTAL / (1024 * 1024)
                        ),
                    );
                    kept(self);
                    return;
                }
                self.done.insert(p.name, value);
            }
        }
    }
}

/// The `${vars.NAME}` references of `text` (a `:form` suffix left out): name, offset and
/// length of each, in order.
fn var_references(text: &str) -> Vec<(String, usize, usize)> {
    template::references_in(text, 0, text.len())
        .into_iter()
        .filter_map(|(i, len)| {
            // An unclosed reference (the last) names nothing.
            let inner = text[i..i + len].strip_prefix("${")?.strip_suffix('}')?;
            let name = inner.strip_prefix("vars.")?;
            let name = name.split(':').next().unwrap_or(name);
            Some((name.to_string(), i, len))
        })
        .collect()
}

/// Fills in the `${vars.NAME}` of every key that names something (a reconcile check's
/// tables, key, columns, schemas and sequences; `[lag]`'s slot, subscription, standby and
/// heartbeat table) before the sections are checked, so they are checked as they will run.
pub(super) fn resolve_names(cx: &mut Ctx<'_>, spec: &mut FileSpec) {
    for r in &mut spec.reconcile {
        let r = r.get_mut();
        for s in [&mut r.table, &mut r.target_table, &mut r.changed_since]
            .into_iter()
            .flatten()
        {
            cx.resolve_name(s);
        }
        for list in [
            &mut r.columns,
            &mut r.exclude,
            &mut r.schemas,
            &mut r.sequences,
            &mut r.tables,
            &mut r.exclude_tables,
        ]
        .into_iter()
        .flatten()
        {
            cx.resolve_names(list);
        }
        if let Some(key) = &mut r.key {
            let span = key.span();
            let mut list = Spanned::new(span, std::mem::take(&mut key.get_mut().0));
            cx.resolve_names(&mut list);
            key.get_mut().0 = list.into_inner();
        }
    }
    if let Some(l) = &mut spec.lag {
        let l = l.get_mut();
        for s in [
            &mut l.slot,
            &mut l.subscription,
            &mut l.application_name,
            &mut l.table,
        ]
        .into_iter()
        .flatten()
        {
            cx.resolve_name(s);
        }
    }
}

/// `[secrets]`: each name to the environment variable that holds it. A value that is likely
/// the secret itself ([`SecretSpec::not_a_name`]) is refused, and masked on the quoted line.
pub(super) fn secrets(cx: &mut Ctx<'_>, spec: &FileSpec) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, s) in &spec.secrets {
        let env = s.get_ref().env.get_ref().trim().to_string();
        if let Some(why) = s.get_ref().not_a_name() {
            cx.err_masking(s.span(), SecretSpec::not_a_name_message(name, why), &env);
        }
        cx.not_blank(&s.get_ref().env, || {
            format!(
                "secret `{name}` needs the name of the environment variable that holds it, e.g. env = \"CUTOVER_{name}\""
            )
        });
        out.insert(name.clone(), env);
    }
    out
}

/// What stands for a secret's value while a DSN is checked (a private-use character: no
/// DSN syntax, and no one writes it).
const SECRET_HERE: &str = "\u{E000}";

/// `[connections]`, their DSNs as templates (they may use secrets).
pub(super) fn connections(cx: &mut Ctx<'_>, spec: &FileSpec) -> BTreeMap<String, Connection> {
    each(cx, &spec.connections, |cx, name, c| {
        cx.not_blank(&c.dsn, || {
            format!(
                "connection `{name}` has an empty dsn: write a libpq conninfo (\"host=db-new dbname=orders user=migrator\") or a URL (\"postgres://migrator@db-new/orders\")"
            )
        });
        let dsn = cx.template(&c.dsn);
        // The DSN as the run reads it, vars filled in; a secret is known only then, so the
        // value that holds one is not judged.
        let unknown: BTreeMap<String, String> = cx
            .secret_names()
            .into_iter()
            .map(|n| (n, SECRET_HERE.to_string()))
            .collect();
        let rendered = dsn.render(&unknown);
        if !dsn.segments.is_empty()
            && let Err(why) = crate::runbook::dsn::check_with_unknown(&rendered, SECRET_HERE)
        {
            // The quoted line never shows an unknown option's value (a misspelt `password`).
            cx.err_hiding(
                c.dsn.span(),
                format!("connection `{name}`: {why}"),
                |line| crate::runbook::dsn::hide_values_of(&rendered, SECRET_HERE, line),
            );
        }
        Connection { dsn }
    })
}

/// Each `NAME = {...}` of a section, made into its value by `f` (given the name), in name order.
fn each<S, T>(
    cx: &mut Ctx<'_>,
    spec: &BTreeMap<String, Spanned<S>>,
    mut f: impl FnMut(&mut Ctx<'_>, &str, &S) -> T,
) -> BTreeMap<String, T> {
    spec.iter()
        .map(|(name, s)| (name.clone(), f(cx, name, s.get_ref())))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::runbook::{Action, Runbook};

    fn parse(vars: &str, run: &str, overrides: &[(&str, &str)]) -> Result<Runbook, String> {
        let text = format!(
            "[runbook]\nname = \"r\"\n[vars]\n{vars}\n[[step]]\nid = \"a\"\nrun = {run:?}\n"
        );
        let o: BTreeMap<String, String> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Runbook::parse("rb.toml", &text, &o).map_err(|d| d.to_string())
    }

    /// The error of a runbook whose secret `PW` is written `value`: refused at its line, as
    /// perhaps the secret itself, masked on the quoted line.
    fn refused_unseen(value: &str) -> String {
        let text = format!(
            "[runbook]\nname = \"r\"\n[secrets]\nPW = {value}\n[[step]]\nid = \"a\"\nrun = \"true\"\n"
        );
        let e = Runbook::parse("rb.toml", &text, &BTreeMap::new())
            .expect_err("refused")
            .to_string();
        assert!(e.contains("rb.toml:4:"), "{value}: {e}");
        assert!(e.contains("it may be the secret itself"), "{value}: {e}");
        assert!(e.contains("••••"), "{value}: {e}");
        e
    }

    /// Attack: a secret written as the secret itself (a string, an array, a "name" with a
    /// space or starting with a digit) is refused, and the error never shows it.
    #[test]
    fn a_secret_written_as_the_secret_itself_is_refused_unseen() {
        for value in [
            "\"hunter2\"",
            "'hunter2'",
            "[\"hunter2\"]",
            "{ env = \"hunter2 x\" }",
            "{ env = \"2hunter\" }",
        ] {
            let e = refused_unseen(value);
            assert!(!e.contains("hunter"), "{value}: {e}");
            // The underline is as wide as the masked value: its width never tells the
            // secret's length.
            let quoted = e.lines().find_map(|l| l.strip_prefix("4 | PW = "));
            let carets = e
                .lines()
                .find(|l| l.contains('^'))
                .map(|l| l.matches('^').count());
            assert_eq!(carets, quoted.map(|q| q.chars().count()), "{value}: {e}");
        }
    }

    /// Attack: a secret of digits, a date or a boolean written in a secret's place (or in its
    /// `env`) was quoted by serde's own message (`found integer 987654321`). It is refused
    /// like a string: said what it is, never what it says, masked on the quoted line.
    #[test]
    fn a_secret_of_digits_is_refused_unseen_too() {
        for value in [
            "987654321",
            "9876543.21",
            "1987-06-05",
            "{ env = 987654321 }",
            "[987654321]",
        ] {
            let e = refused_unseen(value);
            assert!(!e.contains("98765") && !e.contains("1987"), "{value}: {e}");
        }
    }

    fn command(rb: &Runbook) -> String {
        match &rb.steps[0].action {
            Action::Run(t) => t.render(&BTreeMap::new()),
            other => panic!("{other:?}"),
        }
    }

    /// A password written unquoted with spaces stops the conninfo's parse at its second
    /// word: no word of it is shown, and the underline ends where the masked value does.
    #[test]
    fn a_password_with_unquoted_spaces_is_never_shown_in_part() {
        let text = "[runbook]\nname = \"r\"\n[connections]\n\
             source = { dsn = \"host=db password=correct horse battery dbname=x\" }\n\
             [[step]]\nid = \"a\"\nrun = \"true\"\n";
        let e = Runbook::parse("rb.toml", text, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        for word in ["correct", "horse", "battery"] {
            assert!(!e.contains(word), "{word}: {e}");
        }
        let quoted = e.lines().find(|l| l.starts_with("4 | ")).expect("the line");
        let carets = e.lines().find(|l| l.contains('^')).expect("the underline");
        assert!(carets.chars().count() <= quoted.chars().count(), "{e}");
    }

    #[test]
    fn a_misspelt_password_is_never_shown_in_the_quoted_line() {
        // `passwrd` is no option: the runbook is refused, and neither the message nor the
        // line it quotes shows the value (conninfo and URL; a secret elsewhere in the DSN
        // changes nothing).
        let text = "[runbook]\nname = \"r\"\n[secrets]\nPW = { env = \"X_PW\" }\n\
             [connections]\n\
             source = { dsn = \"host=127.0.0.1 port=55410 dbname=pw user=pwuser passwrd=WrongPassWord123\" }\n\
             target = { dsn = \"postgres://u:${secrets.PW}@db/pw?passwrd=UrlWrong456&sslmode=disable\" }\n\
             [[step]]\nid = \"a\"\nrun = \"true\"\n";
        let e = Runbook::parse("rb.toml", text, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("connection `source`: unknown option `passwrd`")
                && e.contains("connection `target`: unknown option `passwrd`"),
            "{e}"
        );
        assert!(
            !e.contains("WrongPassWord123") && !e.contains("UrlWrong456"),
            "{e}"
        );
        assert!(e.contains("user=pwuser passwrd=••••\""), "{e}");
        assert!(e.contains("?passwrd=••••&sslmode=disable"), "{e}");
    }

    #[test]
    fn vars_resolve_in_any_order_and_overrides_are_values() {
        let vars = "url = \"https://${vars.host}:${vars.port}/\"\nhost = \"${vars.name}.internal\"\nname = \"app\"\nport = 443";
        let rb = parse(vars, "echo ${vars.url}", &[]).unwrap();
        assert_eq!(rb.vars["url"], "https://app.internal:443/");
        assert_eq!(command(&rb), "echo 'https://app.internal:443/'");
        // An override changes what refers to it, and is itself taken as written.
        let rb = parse(vars, "echo ${vars.url}", &[("name", "${vars.port}")]).unwrap();
        assert_eq!(rb.vars["url"], "https://${vars.port}.internal:443/");
        // `$${` is a literal `${` in a var too.
        let rb = parse("x = \"$${HOME}\"", "echo ${vars.x}", &[]).unwrap();
        assert_eq!(rb.vars["x"], "${HOME}");
    }

    #[test]
    fn a_cycle_is_one_error_at_the_reference_that_closes_it() {
        let e = parse("a = \"${vars.a}\"", "echo", &[]).unwrap_err();
        assert!(e.contains("rb.toml:4:6:") && e.contains("a → a"), "{e}");
        assert_eq!(e.matches("rb.toml:").count(), 1, "{e}");
    }

    #[test]
    fn a_nul_byte_is_refused_from_the_file_and_from_an_override() {
        let e = parse("x = \"a\\u0000\"", "echo", &[]).unwrap_err();
        assert!(e.contains("rb.toml:4:5: var `x` holds a NUL byte"), "{e}");
        let e = parse("", "echo ${vars.y}", &[("y", "b\0c")]).unwrap_err();
        assert!(e.contains("--var y=… holds a NUL byte"), "{e}");
    }

    #[test]
    fn a_long_chain_of_vars_does_not_overflow_the_stack() {
        let mut vars = String::from("v0 = \"x\"\n");
        for i in 1..20_000 {
            vars.push_str(&format!("v{i} = \"${{vars.v{}}}\"\n", i - 1));
        }
        let rb = parse(&vars, "echo ${vars.v19999}", &[]).unwrap();
        assert_eq!(rb.vars["v19999"], "x");
    }
}
