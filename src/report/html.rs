//! The report as one self-contained HTML file: the Markdown report's content (one source for
//! the facts), with the timeline and the lag drawn as inline SVG, and inline CSS that reads
//! well on a screen, on a phone and printed. No script, font, image or link leaves the file.

use std::iter::Peekable;

use super::facts::Report;
use super::svg::{esc, lag_chart, timeline};

const CSS: &str = r#"
:root { color-scheme: light; --fg:#1d232a; --muted:#5b6670; --line:#d6dbe0; --ok:#2e7d32; --bad:#c62828; --warn:#b26a00; --skip:#7b1fa2; --bg:#fff; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; padding: 1.2rem; max-width: 70rem; overflow-wrap: break-word; }
h1 { font-size: 1.5rem; margin: 0 0 .8rem; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
td code, li code { font-size: .85rem; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; background: #f3f5f7; padding: 0 .2rem; border-radius: 3px; }
blockquote { margin: .6rem 0; padding: .5rem .8rem; border-left: 4px solid var(--bad); background: #fdecea; }
.table-wrap { overflow-x: auto; }
.chart { display: block; width: 100%; height: auto; margin: .4rem 0 1rem; }
.chart.narrow { display: none; }
.chart .label, .chart .tick { font: 11px ui-monospace, Menlo, Consolas, monospace; fill: var(--muted); }
.chart .label { fill: var(--fg); }
.chart .label, .chart .end { text-anchor: end; }
.chart .start { text-anchor: start; }
.chart .planned { fill: none; stroke: var(--muted); stroke-dasharray: 3 2; }
.chart .actual.ok { fill: var(--ok); } .chart .actual.bad { fill: var(--bad); } .chart .actual.skip { fill: var(--skip); }
.chart .actual.unknown { fill: var(--warn); } .chart .actual.none { fill: var(--line); }
.chart .ponr { font-size: 12px; fill: var(--bad); }
.chart path.terminal { fill: var(--muted); } .chart path.terminal.takeover { fill: var(--warn); } .chart path.terminal.lost { fill: var(--bad); }
.chart .axis { stroke: var(--muted); } .chart .grid { stroke: #eceff2; } .chart .lag { fill: none; stroke: #1565c0; stroke-width: 1.5; } .chart .reading { fill: #1565c0; }
.chart .warn { stroke: var(--warn); stroke-dasharray: 5 3; } .chart .critical { stroke: var(--bad); stroke-dasharray: 5 3; }
.chart line.mark { stroke-width: 1.5; } .chart line.mark.trigger { stroke: var(--warn); } .chart line.mark.rollback { stroke: var(--bad); stroke-dasharray: 4 2; }
.chart text.tick, .chart text.mark { paint-order: stroke; stroke: var(--bg); stroke-width: 3px; stroke-linejoin: round; }
.chart text.mark { font: 600 11px system-ui, sans-serif; } .chart text.mark.trigger { fill: var(--warn); } .chart text.mark.rollback { fill: var(--bad); }
ul { padding-left: 1.3rem; } li { margin: .15rem 0; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
@media (max-width: 40rem) {
  body { padding: .6rem; font-size: 14px; }
  th, td { padding: .25rem .3rem; }
  .chart.wide { display: none; } .chart.narrow { display: block; }
  table.stack, table.stack tbody { display: block; width: 100%; }
  table.stack tr.head { display: none; }
  table.stack tr { display: flex; flex-wrap: wrap; gap: .1rem .9rem; border-bottom: 1px solid var(--line); padding: .35rem .2rem; }
  table.stack td { display: block; border: 0; padding: 0; min-width: 0; }
  table.stack td::before { content: attr(data-label) " "; color: var(--muted); font-size: .85em; }
  table.stack td:first-child { font-weight: 600; }
  table.stack td:first-child::before { content: none; }
  table.stack td:empty { display: none; }
  .chart.narrow .label { font-size: 12px; }
}
@media print { body { max-width: none; padding: 0; } h2 { break-after: avoid; } table, svg { break-inside: avoid; } .table-wrap { overflow: visible; } .chart.wide { display: block; } .chart.narrow { display: none; } }
"#;

/// `**bold**` and `` `code` `` in already escaped text.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['`', '*', '\\']) {
        out.push_str(&rest[..i]);
        let r = &rest[i..];
        if let Some(escaped) = r.strip_prefix('\\') {
            // A Markdown escape: the next character (or entity, after HTML escaping) as it is.
            let n = match escaped.chars().next() {
                Some('&') => escaped.find(';').map_or(1, |e| e + 1),
                Some(c) => c.len_utf8(),
                None => 0,
            };
            out.push_str(&escaped[..n]);
            rest = &escaped[n..];
        } else if let Some(body) = r.strip_prefix('`')
            && let Some(end) = body.find('`')
        {
            // A path may break after each slash, and only there: a column of paths is as
            // narrow as their longest part, never cut inside a name.
            out.push_str(&format!(
                "<code>{}</code>",
                body[..end].replace('/', "/<wbr/>")
            ));
            rest = &body[end + 1..];
        } else if let Some(body) = r.strip_prefix("**")
            && let Some(end) = body.find("**")
        {
            out.push_str(&format!("<strong>{}</strong>", &body[..end]));
            rest = &body[end + 2..];
        } else {
            out.push_str(&r[..1]);
            rest = &r[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The cells of a Markdown table row (`\|` is a pipe inside a cell).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(last) = out.last_mut() {
                    last.push('|');
                }
            }
            '|' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.into_iter().map(|c| inline(&esc(c.trim()))).collect()
}

/// A Markdown table, its first line `first` and the rest from `lines`, as HTML. A table of
/// more than three columns with a header stacks on a phone: each row a block, each cell
/// under its column's name (`data-label`), so that nothing scrolls sideways.
fn table<'a>(first: &str, lines: &mut Peekable<impl Iterator<Item = &'a str>>) -> String {
    let head = cells(first);
    let separator = lines.next_if(|l| l.starts_with("|---")).is_some();
    let named = separator && head.iter().any(|c| !c.is_empty());
    let stack = named && head.len() > 3;
    let mut o = String::from(if stack {
        "<div class=\"table-wrap\"><table class=\"stack\">"
    } else {
        "<div class=\"table-wrap\"><table>"
    });
    if named {
        o.push_str("<tr class=\"head\">");
        for c in &head {
            o.push_str(&format!("<th>{c}</th>"));
        }
        o.push_str("</tr>");
    }
    let labels: Vec<String> = if stack {
        head.iter().map(|h| untagged(h)).collect()
    } else {
        Vec::new()
    };
    if !named && head.iter().any(|c| !c.is_empty()) {
        rows(&mut o, [head], &[]);
    }
    let body: Vec<Vec<String>> = std::iter::from_fn(|| lines.next_if(|l| l.starts_with('|')))
        .map(cells)
        .collect();
    rows(&mut o, body, &labels);
    o.push_str("</table></div>\n");
    o
}

/// Table rows of `cells` (already HTML); each cell labelled with its column's name, if given.
fn rows(o: &mut String, cells: impl IntoIterator<Item = Vec<String>>, labels: &[String]) {
    for row in cells {
        o.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            match labels.get(i) {
                Some(l) => o.push_str(&format!("<td data-label=\"{l}\">{c}</td>")),
                None => o.push_str(&format!("<td>{c}</td>")),
            }
        }
        o.push_str("</tr>");
    }
}

/// HTML without its tags (the text of a header cell, for an attribute: already escaped).
fn untagged(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Renders the report.
pub fn render(r: &Report) -> String {
    page(
        &super::markdown::document(r, super::markdown::Target::Html),
        "run report",
        Some(r),
    )
}

/// One HTML page of the Markdown `md` the report modules write; with `r`, the text timeline
/// is drawn as SVG and the lag chart follows the Lag heading.
pub fn page(md: &str, what: &str, r: Option<&Report>) -> String {
    let title = md
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .unwrap_or(what)
        .to_string();
    let journal = r.map_or("the journals given".to_string(), |r| {
        format!("the journal {}", r.summary.journal)
    });
    let mut body = String::new();
    let mut lines = md.lines().peekable();
    let mut list = false;
    let mut lag_pending = false;
    while let Some(line) = lines.next() {
        if list && !line.starts_with("- ") {
            body.push_str("</ul>\n");
            list = false;
        }
        if let Some(h) = line.strip_prefix("### ") {
            body.push_str(&format!("<h3>{}</h3>\n", inline(&esc(h))));
        } else if let Some(h) = line.strip_prefix("## ") {
            // The lag chart closes the Lag section, after its facts.
            if lag_pending && let Some(r) = r {
                body.push_str(&lag_chart(r));
            }
            lag_pending = h == "Lag";
            body.push_str(&format!("<h2>{}</h2>\n", inline(&esc(h))));
        } else if let Some(h) = line.strip_prefix("# ") {
            body.push_str(&format!("<h1>{}</h1>\n", inline(&esc(h))));
        } else if let Some(q) = line.strip_prefix("> ") {
            body.push_str(&format!("<blockquote>{}</blockquote>\n", inline(&esc(q))));
        } else if line.starts_with("```") {
            // The one code block is the text timeline: drawn as SVG instead (dashed: planned,
            // filled: actual, coloured by the step's state).
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
            }
            if let Some(r) = r {
                body.push_str(&timeline(r));
            }
        } else if line.starts_with('|') {
            body.push_str(&table(line, &mut lines));
        } else if let Some(item) = line.strip_prefix("- ") {
            if !list {
                body.push_str("<ul>");
                list = true;
            }
            let item = match item.strip_prefix("[ ] ") {
                Some(rest) => format!("☐ {}", inline(&esc(rest))),
                None if item == "[ ]" => "☐".to_string(),
                None => inline(&esc(item)),
            };
            body.push_str(&format!("<li>{item}</li>\n"));
        } else if !line.trim().is_empty() {
            body.push_str(&format!("<p>{}</p>\n", inline(&esc(line))));
        }
    }
    if list {
        body.push_str("</ul>\n");
    }
    if lag_pending && let Some(r) = r {
        body.push_str(&lag_chart(r));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{CSS}</style></head><body>\n{body}\
         <footer>cutover {version} · generated from {journal}</footer>\n</body></html>\n",
        title = esc(&title),
        version = env!("CARGO_PKG_VERSION"),
        journal = esc(&journal)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixture;

    /// The text a reader sees: no style, no tags, entities decoded.
    fn visible(html: &str) -> String {
        let mut rest = html;
        let mut out = String::new();
        if let (Some(a), Some(b)) = (rest.find("<style>"), rest.find("</style>")) {
            out.push_str(&rest[..a]);
            rest = &rest[b..];
        }
        out.push_str(rest);
        untagged(&out)
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    #[test]
    fn a_report_in_html_shows_no_markdown() {
        let mut r = fixture::report();
        if let Some(info) = r.summary.lag.info.as_mut() {
            info.description = "command `echo 3`".into();
        }
        let html = render(&r);
        crate::has(&html, "<p>command <code>echo 3</code>.</p>");
        let text = visible(&html);
        for leftover in ["`", "**", "|", "\\", "in HTML", "in Markdown", "[ ]", "```"] {
            assert!(!text.contains(leftover), "{leftover:?} in:\n{text}");
        }
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("# ") || l.starts_with("## ")),
            "{text}"
        );
        // What the Markdown says with its own syntax is said here in words and drawings.
        assert!(text.contains("dashed outline"), "{text}");
        crate::has(&text, "Trigger lag runaway fired at 02:00:20.");
        assert!(text.contains("The rollback began at 02:00:25."), "{text}");
    }

    #[test]
    fn text_from_the_run_shows_as_it_is_in_its_cell() {
        let mut r = fixture::report();
        r.summary.steps[0].id = "a|b **c** `d` [e](f) _g_".into();
        r.summary.steps[0].message = Some("x \\| <y> & z".into());
        let html = render(&r);
        crate::has(
            &html,
            "<td data-label=\"Step\">a|b **c** `d` [e](f) _g_</td>",
        );
        crate::has(
            &html,
            "<td data-label=\"Detail\">x \\| &lt;y&gt; &amp; z</td>",
        );
        // Every row of the step table still has its nine cells.
        let steps = &html[html.find("<h2>Steps</h2>").unwrap()..];
        let steps = &steps[..steps.find("</table>").unwrap()];
        for row in steps.split("<tr>").skip(1) {
            assert_eq!(row.matches("<td").count(), 9, "{row}");
        }
    }

    #[test]
    fn a_path_breaks_after_a_slash_only() {
        assert_eq!(
            inline("journal `d/journal.jsonl` and \\/x"),
            "journal <code>d/<wbr/>journal.jsonl</code> and /x"
        );
        assert!(
            !CSS.contains("break-all"),
            "a path is not cut inside a name"
        );
    }

    #[test]
    fn a_table_of_more_than_three_columns_stacks_on_a_phone() {
        let md = "| Time | Trigger | Condition | Then |\n|---|---|---|---|\n| 02:00 | lag | high | `rollback` |\n\n\
                  | Time | Who | What |\n|---|---|---|\n| 02:00 | ann | skip |\n";
        let html = page(md, "t", None);
        assert!(
            html.contains(
                "<table class=\"stack\"><tr class=\"head\"><th>Time</th><th>Trigger</th>"
            ),
            "{html}"
        );
        crate::has(&html, "<td data-label=\"Then\"><code>rollback</code></td>");
        crate::has(
            &html,
            "<table><tr class=\"head\"><th>Time</th><th>Who</th><th>What</th></tr><tr><td>02:00</td>",
        );
        // The CSS that stacks them, and shows the phone's drawings, applies on a phone only.
        let phone = &CSS[CSS.find("@media (max-width: 40rem)").unwrap()..];
        let phone = &phone[..phone.find("\n}\n").unwrap()];
        for rule in [
            "table.stack tr { display: flex; flex-wrap: wrap;",
            ".chart.wide { display: none; } .chart.narrow { display: block; }",
        ] {
            assert!(phone.contains(rule), "{rule}");
        }
    }

    #[test]
    fn nothing_is_wider_than_a_phone() {
        let html = render(&fixture::report());
        // No fixed width anywhere (a max-width is a limit, not a width).
        for decl in html.split("width").skip(1) {
            let before = &html[..html.len() - decl.len() - "width".len()];
            if before.ends_with("max-") || before.ends_with("stroke-") {
                continue;
            }
            let value: String = decl
                .trim_start_matches([':', '=', '"', ' '])
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            if let Ok(v) = value.parse::<f64>() {
                // SVG `width` attributes of bars are in viewBox units, scaled to fit.
                let in_svg =
                    before.rfind("<svg").unwrap_or(0) > before.rfind("</svg>").unwrap_or(0);
                assert!(in_svg || v <= 390.0, "width {v} outside an SVG");
            }
        }
    }
}
