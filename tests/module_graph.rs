//! The layout rules of STYLE.md and issue 10, checked on the source text: dependencies
//! point one way. Every file under `src/` is a module; a module depends on another when
//! its code or its doc links name a path into it (`use crate::…`, `super::…`, a child's
//! name in a `mod.rs`, `[link](crate::…)`). A `pub use` re-export is not a dependency of
//! the module that re-exports (unless that module uses the name itself); a path through a
//! re-export is a dependency on the module the item comes from. Comments and string
//! literals are ignored; test modules inside a file count as that file.
//!
//! The tests fail naming each cycle with the lines that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's absolute path below the crate root, e.g. `["config", "merge"]`.
type ModPath = Vec<String>;

/// The dependencies of each module: to whom, with the line and text of the first reference.
type Edges = BTreeMap<ModPath, BTreeMap<ModPath, (usize, String)>>;

/// A use tree's leaf: its segments, and the name it binds (`None` for a plain path).
type Leaf = (Vec<String>, Option<String>);

/// One path named in a module's text, resolved to absolute segments.
struct Reference {
    /// Absolute segments below the crate root (the item may follow the module's own).
    path: Vec<String>,
    /// 1-based line where it is written.
    line: usize,
    /// The text as written, for the message.
    written: String,
}

/// A re-export: `pub use <target> as <name>` at a module's top level.
struct ReExport {
    name: String,
    target: Vec<String>,
}

/// What one source file says about its neighbours.
struct Module {
    file: PathBuf,
    references: Vec<Reference>,
    re_exports: Vec<ReExport>,
    /// Identifier tokens of the code outside `pub use` statements, to see whether a
    /// re-exported name is also used by its re-exporter.
    idents: BTreeSet<String>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of the library under `src/` (the binary's `main.rs` is its own crate
/// root and is left out), with its module path.
fn files() -> Vec<(ModPath, PathBuf)> {
    fn walk(dir: &Path, prefix: &[String], out: &mut Vec<(ModPath, PathBuf)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read src")
            .map(|e| e.expect("read src entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                let mut sub = prefix.to_vec();
                sub.push(stem);
                walk(&p, &sub, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let top = prefix.is_empty();
                let path = match stem.as_str() {
                    "lib" if top => Vec::new(),
                    "main" if top => continue,
                    "mod" => prefix.to_vec(),
                    _ => {
                        let mut m = prefix.to_vec();
                        m.push(stem);
                        m
                    }
                };
                out.push((path, p));
            }
        }
    }
    let mut out = Vec::new();
    walk(&src_dir(), &[], &mut out);
    out
}

/// The text split into code (comments and literals blanked, newlines kept) and the
/// targets of doc-comment links with their lines.
fn lex(text: &str) -> (String, Vec<(usize, String)>) {
    let b = text.as_bytes();
    let mut code = String::with_capacity(text.len());
    let mut docs = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Blanks `b[from..to]` into `code`, keeping newlines.
    let blank = |code: &mut String, line: &mut usize, from: usize, to: usize| {
        for &c in &b[from..to] {
            if c == b'\n' {
                code.push('\n');
                *line += 1;
            } else {
                code.push(' ');
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
            let comment = &text[i..end];
            if comment.starts_with("///") || comment.starts_with("//!") {
                docs.extend(doc_links(comment).into_iter().map(|t| (line, t)));
            }
            blank(&mut code, &mut line, i, end);
            i = end;
        } else if c == b'/' && next == Some(b'*') {
            let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            blank(&mut code, &mut line, i, end);
            i = end;
        } else if c == b'r'
            && (i == 0 || !ident(b[i - 1]) || (b[i - 1] == b'b' && (i < 2 || !ident(b[i - 2]))))
            && matches!(next, Some(b'"') | Some(b'#'))
        {
            let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                code.push('r');
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = text[start..]
                .find(&close)
                .map_or(b.len(), |n| start + n + close.len());
            blank(&mut code, &mut line, i, end);
            i = end;
        } else if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut code, &mut line, i, end);
            i = end;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): only the first is
            // blanked, so a quote inside it cannot start a string.
            let end = if next == Some(b'\\') {
                text[i + 2..].find('\'').map(|n| i + 2 + n + 1)
            } else {
                let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 2 + ch_len)
            };
            match end {
                Some(end) => {
                    blank(&mut code, &mut line, i, end);
                    i = end;
                }
                None => {
                    code.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = text[i..].chars().next().unwrap();
            if ch == '\n' {
                line += 1;
            }
            code.push(ch);
            i += ch.len_utf8();
        }
    }
    (code, docs)
}

/// The link targets of one doc comment line: `[text](target)` and `` [`target`] ``.
fn doc_links(comment: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = comment;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inner = &rest[..close];
        let after = &rest[close + 1..];
        if let Some(target) = after.strip_prefix('(') {
            if let Some(end) = target.find(')') {
                out.push(target[..end].trim().to_owned());
            }
        } else if !after.starts_with('[') {
            out.push(inner.trim_matches('`').to_owned());
        }
        rest = after;
    }
    out.retain(|t| !t.is_empty() && !t.contains(char::is_whitespace) && !t.contains('/'));
    out
}

/// The identifier starting at `i`, if any.
fn ident_at(code: &str, i: usize) -> Option<&str> {
    let len = code[i..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(code.len() - i);
    let id = &code[i..i + len];
    (len > 0 && !id.as_bytes()[0].is_ascii_digit()).then_some(id)
}

fn skip_ws(code: &str, mut i: usize) -> usize {
    while code[i..].starts_with(char::is_whitespace) {
        i += code[i..].chars().next().unwrap().len_utf8();
    }
    i
}

/// Parses a path or use tree at `i`: returns its leaves (segments, and the name it binds
/// when it is a use tree leaf) and the end position. `use a::{b, c::{self, d as e}}` gives
/// `a::b`, `a::c`, `a::c::d` (bound as `e`).
fn parse_tree(code: &str, i: usize) -> (Vec<Leaf>, usize) {
    let mut segs = Vec::new();
    let mut i = skip_ws(code, i);
    loop {
        if code[i..].starts_with('{') {
            let mut leaves = Vec::new();
            i += 1;
            loop {
                i = skip_ws(code, i);
                if code[i..].starts_with('}') {
                    i += 1;
                    break;
                }
                let (sub, end) = parse_tree(code, i);
                for (mut s, name) in sub {
                    if s.first().is_some_and(|f| f == "self") {
                        s.remove(0);
                    }
                    let mut full = segs.clone();
                    full.extend(s);
                    leaves.push((full, name));
                }
                i = skip_ws(code, end);
                if code[i..].starts_with(',') {
                    i += 1;
                } else if !code[i..].starts_with('}') {
                    break; // not a use tree after all
                }
            }
            return (leaves, i);
        }
        if code[i..].starts_with('*') {
            return (vec![(segs, Some("*".to_owned()))], i + 1);
        }
        let Some(id) = ident_at(code, i) else {
            return (vec![(segs, None)], i);
        };
        segs.push(id.to_owned());
        i += id.len();
        let j = skip_ws(code, i);
        if code[j..].starts_with("::") {
            i = skip_ws(code, j + 2);
            continue;
        }
        if code[j..].starts_with("as ") {
            let k = skip_ws(code, j + 3);
            if let Some(alias) = ident_at(code, k) {
                return (vec![(segs, Some(alias.to_owned()))], k + alias.len());
            }
        }
        let name = segs.last().cloned();
        return (vec![(segs, name)], i);
    }
}

/// Reads one file: the paths it names (resolved against `module`, its children and its
/// inline modules) and its top-level re-exports.
fn read_module(module: &[String], file: &Path, children: &BTreeSet<String>) -> Module {
    let text = std::fs::read_to_string(file).expect("read source file");
    let (code, docs) = lex(&text);
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;

    // Inline modules (`mod tests { … }`): (name, depth of braces inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut references = Vec::new();
    let mut re_exports = Vec::new();
    let mut idents = BTreeSet::new();
    let mut i = 0;
    let resolve = |segs: &[String], inline: &[(String, usize)]| -> Option<Vec<String>> {
        let mut here: Vec<String> = module.to_vec();
        here.extend(inline.iter().map(|(n, _)| n.clone()));
        let mut rest = segs;
        match segs.first().map(String::as_str) {
            Some("crate") | Some("$crate") => {
                here.clear();
                rest = &segs[1..];
            }
            Some("self") => rest = &segs[1..],
            Some("super") => {
                while rest.first().is_some_and(|s| s == "super") {
                    here.pop()?;
                    rest = &rest[1..];
                }
            }
            Some(first) if inline.is_empty() && children.contains(first) => {}
            _ => return None,
        }
        here.extend(rest.iter().cloned());
        Some(here)
    };
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'{' {
            depth += 1;
            i += 1;
            continue;
        }
        if c == b'}' {
            depth = depth.saturating_sub(1);
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            i += 1;
            continue;
        }
        if !ident(c) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let id = ident_at(&code, i).unwrap_or("").to_owned();
        if id.is_empty() {
            i += 1; // a number
            while i < bytes.len() && ident(bytes[i]) {
                i += 1;
            }
            continue;
        }
        let after = skip_ws(&code, i + id.len());
        if id == "mod" {
            if let Some(name) = ident_at(&code, after) {
                if code[skip_ws(&code, after + name.len())..].starts_with('{') {
                    inline.push((name.to_owned(), depth));
                }
            }
            i = after;
            continue;
        }
        // `pub use` / `pub(crate) use` at the file's top level: a re-export.
        if id == "pub" && inline.is_empty() && depth == 0 {
            let mut j = after;
            if code[j..].starts_with('(') {
                j = skip_ws(&code, j + code[j..].find(')').map_or(0, |n| n + 1));
            }
            if code[j..].starts_with("use ") {
                let (leaves, end) = parse_tree(&code, j + 4);
                for (segs, name) in leaves {
                    if let (Some(target), Some(name)) = (resolve(&segs, &inline), name) {
                        re_exports.push(ReExport { name, target });
                    }
                }
                i = end;
                continue;
            }
        }
        if id == "use" {
            let (leaves, end) = parse_tree(&code, after);
            for (segs, _) in leaves {
                if let Some(path) = resolve(&segs, &inline) {
                    references.push(Reference {
                        path,
                        line: line_of(i),
                        written: segs.join("::"),
                    });
                }
            }
            i = end;
            continue;
        }
        if code[after..].starts_with("::") {
            let (leaves, end) = parse_tree(&code, i);
            for (segs, _) in leaves {
                match resolve(&segs, &inline) {
                    Some(path) => references.push(Reference {
                        path,
                        line: line_of(i),
                        written: segs.join("::"),
                    }),
                    // `Name::item` uses `Name` (an imported or re-exported type, say).
                    None => {
                        idents.insert(id.clone());
                    }
                }
            }
            i = end;
            continue;
        }
        // An enum variant declared on its own line (`    Name(String),`) is not a use of
        // a re-exported `Name`.
        let line_start = code[..i].rfind('\n').map_or(0, |n| n + 1);
        let declared = code[line_start..i].trim().is_empty()
            && matches!(code[after..].chars().next(), Some('(' | '{' | ',' | '='));
        if !declared {
            idents.insert(id.clone());
        }
        i += id.len();
    }
    for (line, target) in docs {
        let segs: Vec<String> = target
            .trim_end_matches("()")
            .trim_end_matches('!')
            .split("::")
            .map(str::to_owned)
            .collect();
        // A module's docs may point into its own children (a map of the module); that
        // is not a dependency.
        let into_child = |p: &Vec<String>| {
            p.starts_with(module) && p.get(module.len()).is_some_and(|c| children.contains(c))
        };
        if let Some(path) = resolve(&segs, &[]).filter(|p| !into_child(p)) {
            references.push(Reference {
                path,
                line,
                written: format!("doc link {target}"),
            });
        }
    }
    Module {
        file: file.to_owned(),
        references,
        re_exports,
        idents,
    }
}

/// The module graph: for each module, the modules it depends on, each with the line and
/// text of the first reference.
struct Graph {
    modules: BTreeMap<ModPath, Module>,
    edges: Edges,
}

fn graph() -> Graph {
    let files = files();
    let known: BTreeSet<ModPath> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut modules = BTreeMap::new();
    for (m, file) in &files {
        let children: BTreeSet<String> = known
            .iter()
            .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
            .map(|k| k.last().unwrap().clone())
            .collect();
        modules.insert(m.clone(), read_module(m, file, &children));
    }
    // The file module an absolute path lands in, through re-exports.
    let land = |path: &[String]| -> ModPath {
        let mut path = path.to_vec();
        for _ in 0..16 {
            let at = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| known.contains(p))
                .unwrap_or_default();
            let Some(next) = path.get(at.len()) else {
                return at;
            };
            let through = modules[&at]
                .re_exports
                .iter()
                .find(|r: &&ReExport| &r.name == next)
                .map(|r| r.target.clone());
            match through {
                Some(mut target) => {
                    target.extend(path[at.len() + 1..].iter().cloned());
                    path = target;
                }
                None => return at,
            }
        }
        panic!("re-exports loop at {}", path.join("::"));
    };
    let mut edges: Edges = BTreeMap::new();
    for (m, module) in &modules {
        let out = edges.entry(m.clone()).or_default();
        let mut add = |to: ModPath, line: usize, written: String| {
            if &to != m {
                out.entry(to).or_insert((line, written));
            }
        };
        for r in &module.references {
            add(land(&r.path), r.line, r.written.clone());
        }
        // A re-exported name that the re-exporter uses itself is a dependency too.
        for r in &module.re_exports {
            if module.idents.contains(&r.name) {
                add(
                    land(&r.target),
                    0,
                    format!("re-export {} used here", r.name),
                );
            }
        }
    }
    Graph { modules, edges }
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &Edges) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(out) = s.edges.get(v) {
            for w in out.keys() {
                let Some((w, _)) = s.edges.get_key_value(w) else {
                    continue;
                };
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let l = s.low[w].min(s.low[v]);
                    s.low.insert(v, l);
                } else if s.on_stack.contains(w) {
                    let l = s.index[w].min(s.low[v]);
                    s.low.insert(v, l);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                scc.push(w.clone());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.out.push(scc);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Cycles known and left, each exactly (its modules) with the reason. A cycle that grows,
/// shrinks or disappears fails the test too, so this list only ever gets shorter. None
/// are left: a new cycle is fixed, not listed.
const KNOWN_CYCLES: &[(&[&str], &str)] = &[];

#[test]
fn no_two_modules_depend_on_each_other_even_through_others() {
    let g = graph();
    let mut found = cycles(&g.edges);
    let mut stale = Vec::new();
    for (known, _) in KNOWN_CYCLES {
        let known: Vec<ModPath> = known
            .iter()
            .map(|m| m.split("::").map(str::to_owned).collect())
            .collect();
        match found.iter().position(|scc| *scc == known) {
            Some(i) => {
                found.remove(i);
            }
            None => stale.push(known.iter().map(name).collect::<Vec<_>>().join(", ")),
        }
    }
    assert!(
        stale.is_empty(),
        "KNOWN_CYCLES lists cycles that are no longer exactly so (fixed or changed): {}; \
         update the list",
        stale.join(" | ")
    );
    let mut msg = String::new();
    for scc in &found {
        msg.push_str(&format!(
            "cycle among {}:\n",
            scc.iter().map(name).collect::<Vec<_>>().join(", ")
        ));
        for from in scc {
            for (to, (line, written)) in &g.edges[from] {
                if scc.contains(to) {
                    msg.push_str(&format!(
                        "  {}:{line}: {} -> {} ({written})\n",
                        g.modules[from].file.display(),
                        name(from),
                        name(to)
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "import cycles in src/:\n{msg}");
}

#[test]
fn runtime_modules_know_nothing_of_config_or_clap() {
    let g = graph();
    let runtime = [
        "listen", "forward", "cache", "upstream", "dns", "dnssec", "limiter",
    ];
    let mut bad = Vec::new();
    for (m, module) in &g.modules {
        if !m.first().is_some_and(|f| runtime.contains(&f.as_str())) {
            continue;
        }
        for (to, (line, written)) in &g.edges[m] {
            if to.first().is_some_and(|t| t == "config" || t == "cli") {
                bad.push(format!("{}:{line}: {written}", module.file.display()));
            }
        }
        let text = std::fs::read_to_string(&module.file).unwrap();
        let (code, _) = lex(&text);
        for (n, l) in code.lines().enumerate() {
            if l.contains("clap::") || l.contains("clap ::") {
                bad.push(format!("{}:{}: clap", module.file.display(), n + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "runtime modules that name config, cli or clap:\n{}",
        bad.join("\n")
    );
}

/// The checker itself: the cases the source uses, on made-up text.
#[test]
fn the_reader_sees_use_trees_paths_and_doc_links_but_not_comments_or_strings() {
    let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("merge.rs");
    std::fs::write(
        &file,
        r##"//! See [`Config`](super::Config) and [`crate::policy::Policy`].
use super::table::{self, Kind as K};
use crate::{acl::Acl, cache::{CacheKey, store::Store}};
// use crate::commented::Out;
const S: &str = "crate::in_string::X";
const R: &str = r#"crate::raw::"X""#;
const Q: char = '"';
fn f<'a>(x: &'a str) -> crate::upstream::pool::Pool { super::sealed::make(x) }
pub use crate::reexported::Thing;
#[cfg(test)]
mod tests {
    use super::*;
    use super::super::parse::check;
}
"##,
    )
    .unwrap();
    let m = read_module(&["config".into(), "merge".into()], &file, &BTreeSet::new());
    std::fs::remove_dir_all(&dir).unwrap();
    let got: BTreeSet<String> = m.references.iter().map(|r| r.path.join("::")).collect();
    let want: BTreeSet<String> = [
        "config::Config",
        "policy::Policy",
        "config::table",
        "config::table::Kind",
        "acl::Acl",
        "cache::CacheKey",
        "cache::store::Store",
        "upstream::pool::Pool",
        "config::sealed::make",
        "config::merge",
        "config::parse::check",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(got, want);
    assert_eq!(m.re_exports.len(), 1);
    assert_eq!(m.re_exports[0].name, "Thing");
    assert_eq!(m.re_exports[0].target.join("::"), "reexported::Thing");
    assert!(!m.idents.contains("Thing"));

    let mut edges: Edges = BTreeMap::new();
    let a: ModPath = vec!["a".into()];
    let b: ModPath = vec!["b".into()];
    let c: ModPath = vec!["c".into()];
    edges
        .entry(a.clone())
        .or_default()
        .insert(b.clone(), (1, String::new()));
    edges
        .entry(b.clone())
        .or_default()
        .insert(c.clone(), (1, String::new()));
    edges.entry(c.clone()).or_default();
    assert!(cycles(&edges).is_empty());
    edges
        .entry(c.clone())
        .or_default()
        .insert(a.clone(), (1, String::new()));
    assert_eq!(cycles(&edges), vec![vec![a, b, c]]);
}
