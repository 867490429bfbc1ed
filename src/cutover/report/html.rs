//! The report as one self-contained HTML file: the Markdown report's content (one source for
//! the facts), with the timeline and the lag drawn as inline SVG, and inline CSS that reads
//! well on a screen, on a phone and printed. No script, font, image or link leaves the file.

use super::facts::Report;
use super::svg::{esc, lag_chart, timeline};

const CSS: &str = r#"
:root { color-scheme: light; --fg:#1d232a; --muted:#5b6670; --line:#d6dbe0; --ok:#2e7d32; --bad:#c62828; --warn:#b26a00; --skip:#7b1fa2; --bg:#fff; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; padding: 1.2rem; max-width: 70rem; }
h1 { font-size: 1.5rem; margin: 0 0 .8rem; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
td code, li code { font-size: .85rem; word-break: break-all; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; background: #f3f5f7; padding: 0 .2rem; border-radius: 3px; }
blockquote { margin: .6rem 0; padding: .5rem .8rem; border-left: 4px solid var(--bad); background: #fdecea; }
.table-wrap { overflow-x: auto; }
.chart { width: 100%; height: auto; margin: .4rem 0 1rem; }
.chart .label, .chart .tick { font: 11px ui-monospace, Menlo, Consolas, monospace; fill: var(--muted); }
.chart .label, .chart .end { text-anchor: end; }
.chart .planned { fill: none; stroke: var(--muted); stroke-dasharray: 3 2; }
.chart .actual.ok { fill: var(--ok); } .chart .actual.bad { fill: var(--bad); } .chart .actual.skip { fill: var(--skip); }
.chart .actual.unknown { fill: var(--warn); } .chart .actual.none { fill: var(--line); }
.chart .ponr { font-size: 12px; fill: var(--bad); }
.chart .axis { stroke: var(--line); } .chart .lag { fill: none; stroke: #1565c0; stroke-width: 1.5; }
.chart .warn { stroke: var(--warn); stroke-dasharray: 5 3; } .chart .critical { stroke: var(--bad); stroke-dasharray: 5 3; }
ul { padding-left: 1.3rem; } li { margin: .15rem 0; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
@media (max-width: 40rem) { body { padding: .6rem; font-size: 14px; } th, td { padding: .25rem .3rem; } }
@media print { body { max-width: none; padding: 0; } h2 { break-after: avoid; } table, svg { break-inside: avoid; } .table-wrap { overflow: visible; } }
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
            out.push_str(&format!("<code>{}</code>", &body[..end]));
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

/// Renders the report.
pub fn render(r: &Report) -> String {
    page(&super::markdown::render(r), "run report", Some(r))
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
            let head = cells(line);
            let separator = lines.next_if(|l| l.starts_with("|---")).is_some();
            body.push_str("<div class=\"table-wrap\"><table>");
            let tag = if separator && head.iter().any(|c| !c.is_empty()) {
                "th"
            } else {
                "td"
            };
            if head.iter().any(|c| !c.is_empty()) {
                body.push_str("<tr>");
                for c in &head {
                    body.push_str(&format!("<{tag}>{c}</{tag}>"));
                }
                body.push_str("</tr>");
            }
            while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
                body.push_str("<tr>");
                for c in cells(row) {
                    body.push_str(&format!("<td>{c}</td>"));
                }
                body.push_str("</tr>");
            }
            body.push_str("</table></div>\n");
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
