//! The module specifiers a JavaScript or TypeScript file loads: static `import`, `export … from`,
//! `import()` and `require()` with a literal, and calls with a literal of a require made by
//! `createRequire(import.meta.url)` (which resolves as the file's own `require`). A tokenizer, not a parser: it knows exactly enough
//! of the grammar to never mistake a string, comment, template literal or regular expression for
//! code (`"require('x')"` in a string is no import), which is all finding specifiers needs.
//!
//! Why not a full parser (oxc, swc): those add a large dependency tree and minutes of build time
//! on the CI's 2 cores for a question a tokenizer answers; the rules below are the ones
//! `es-module-lexer` (what Node's own CommonJS/ESM interop relies on) uses for the same job.

/// How a file loads a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `import … from 'x'`, `import 'x'`, `export … from 'x'`.
    Static,
    /// `import('x')`.
    Dynamic,
    /// `require('x')`.
    Require,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub specifier: String,
    pub how: How,
    /// 1-based line of the specifier.
    pub line: usize,
    /// Inside a `try { … }` block: the code is prepared for the module to be missing (an
    /// optional dependency), so a miss is a warning rather than an error.
    pub in_try: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// A template literal without substitutions (usable as a specifier).
    Template(String),
    /// A template literal with substitutions, a number, a regex: a value that is no specifier.
    Value,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    in_try: bool,
}

/// Every import `source` makes. `typescript` turns on TypeScript's type-only forms
/// (`import type`, `export type … from`), which load nothing at run time and are left out.
pub fn imports(source: &str, typescript: bool) -> Vec<Import> {
    let tokens = tokenize(source);
    let mut out = Vec::new();
    let ident = |i: usize, name: &str| matches!(tokens.get(i), Some(Token { tok: Tok::Ident(n), .. }) if n == name);
    let punct = |i: usize, c: char| matches!(tokens.get(i), Some(Token { tok: Tok::Punct(p), .. }) if *p == c);
    let literal = |i: usize| match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Str(s)) | Some(Tok::Template(s)) => Some(s.clone()),
        _ => None,
    };
    // `a.import`, `a.require`, `a?.require`: properties, not the keyword or the global.
    let member = |i: usize| i > 0 && punct(i - 1, '.');
    let push = |out: &mut Vec<Import>, i: usize, how: How| {
        if let Some(specifier) = literal(i) {
            out.push(Import {
                specifier,
                how,
                line: tokens[i].line,
                in_try: tokens[i].in_try,
            });
        }
    };
    // `createRequire(import.meta.url)` (also `import.meta.filename`, `__filename`): a require
    // that resolves from this file, as `require` does. The index past its closing `)`.
    let own_require = |k: usize| -> Option<usize> {
        if !ident(k, "createRequire") || !punct(k + 1, '(') {
            return None;
        }
        let end = if ident(k + 2, "import")
            && punct(k + 3, '.')
            && ident(k + 4, "meta")
            && punct(k + 5, '.')
            && (ident(k + 6, "url") || ident(k + 6, "filename"))
        {
            k + 7
        } else if ident(k + 2, "__filename") {
            k + 3
        } else {
            return None;
        };
        punct(end, ')').then_some(end + 1)
    };
    // The names such a require is bound to: `const req = createRequire(import.meta.url)`,
    // `module.createRequire(…)` too.
    let mut requires: Vec<String> = Vec::new();
    for j in 0..tokens.len() {
        let call = if ident(j + 2, "module") && punct(j + 3, '.') {
            j + 4
        } else {
            j + 2
        };
        if let (Some(Tok::Ident(name)), true, Some(_)) = (
            tokens.get(j).map(|t| &t.tok),
            punct(j + 1, '=') && !punct(j + 2, '='),
            own_require(call),
        ) {
            if name != "require" && !requires.contains(name) {
                requires.push(name.clone());
            }
        }
    }
    let bound_require = |i: usize| matches!(tokens.get(i), Some(Token { tok: Tok::Ident(n), .. }) if requires.contains(n));
    let mut i = 0;
    while i < tokens.len() {
        if member(i) {
            i += 1;
            continue;
        }
        if let Some(after) = own_require(i) {
            // `createRequire(import.meta.url)('x')`.
            if punct(after, '(') && literal(after + 1).is_some() && punct(after + 2, ')') {
                push(&mut out, after + 1, How::Require);
            }
            i = after;
            continue;
        }
        if bound_require(i) && punct(i + 1, '(') && literal(i + 2).is_some() && punct(i + 3, ')') {
            push(&mut out, i + 2, How::Require);
        } else if ident(i, "import") {
            if punct(i + 1, '(') {
                if literal(i + 2).is_some() && (punct(i + 3, ')') || punct(i + 3, ',')) {
                    push(&mut out, i + 2, How::Dynamic);
                }
            } else if punct(i + 1, '.') {
                // import.meta
            } else if literal(i + 1).is_some() {
                push(&mut out, i + 1, How::Static);
            } else {
                let type_only = typescript
                    && ident(i + 1, "type")
                    && !ident(i + 2, "from")
                    && !punct(i + 2, ',')
                    && !punct(i + 2, '=');
                if let Some(at) = from_clause(&tokens, i + 1) {
                    if !type_only {
                        push(&mut out, at, How::Static);
                    }
                    i = at;
                }
            }
        } else if ident(i, "export") {
            let type_only = typescript && ident(i + 1, "type");
            let start = if type_only { i + 2 } else { i + 1 };
            if punct(start, '*') || punct(start, '{') {
                if let Some(at) = from_clause(&tokens, start) {
                    if !type_only {
                        push(&mut out, at, How::Static);
                    }
                    i = at;
                }
            }
        } else if ident(i, "require")
            && punct(i + 1, '(')
            && literal(i + 2).is_some()
            && punct(i + 3, ')')
        {
            push(&mut out, i + 2, How::Require);
        }
        i += 1;
    }
    out
}

/// The index of the specifier of the `from '…'` that ends the import/export clause starting at
/// `start`, if the clause has one. The clause is names, `*`, `as`, commas and one `{ … }`.
fn from_clause(tokens: &[Token], start: usize) -> Option<usize> {
    let mut i = start;
    let mut depth = 0usize;
    while let Some(t) = tokens.get(i) {
        match &t.tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth = depth.checked_sub(1)?,
            Tok::Ident(n) if n == "from" && depth == 0 => {
                return match tokens.get(i + 1).map(|t| &t.tok) {
                    Some(Tok::Str(_)) => Some(i + 1),
                    _ => None,
                };
            }
            Tok::Ident(_) | Tok::Punct(',') | Tok::Punct('*') => {}
            // Inside braces: `type` modifiers, string names (`"a-b" as c`).
            Tok::Str(_) if depth > 0 => {}
            _ => return None,
        }
        i += 1;
    }
    None
}

/// After these tokens a `/` divides; anywhere else it starts a regular expression.
fn divides_after(prev: Option<&Tok>) -> bool {
    match prev {
        None => false,
        Some(Tok::Ident(n)) => !matches!(
            n.as_str(),
            "return"
                | "typeof"
                | "instanceof"
                | "in"
                | "of"
                | "new"
                | "delete"
                | "void"
                | "throw"
                | "case"
                | "do"
                | "else"
                | "yield"
                | "await"
        ),
        Some(Tok::Str(_)) | Some(Tok::Template(_)) | Some(Tok::Value) => true,
        Some(Tok::Punct(c)) => matches!(c, ')' | ']'),
    }
}

fn tokenize(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // One entry per open `{`: whether it opened a `try` block. `${` of templates pushes too.
    let mut braces: Vec<Brace> = Vec::new();
    let in_try = |braces: &[Brace]| braces.contains(&Brace::Try);
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            // A hashbang line.
            b'#' if i == 0 && b.get(1) == Some(&b'!') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' | b'"' => {
                let start_line = line;
                let (s, end) = string(b, i, &mut line);
                out.push(Token {
                    tok: Tok::Str(s),
                    line: start_line,
                    in_try: in_try(&braces),
                });
                i = end;
            }
            b'`' => {
                let start_line = line;
                let (tok, end, open) = template(b, i + 1, &mut line);
                out.push(Token {
                    tok,
                    line: start_line,
                    in_try: in_try(&braces),
                });
                if open {
                    braces.push(Brace::Template);
                }
                i = end;
            }
            b'}' if braces.last() == Some(&Brace::Template) => {
                // The end of a `${…}`: the template goes on.
                braces.pop();
                let (_, end, open) = template(b, i + 1, &mut line);
                if open {
                    braces.push(Brace::Template);
                }
                i = end;
            }
            b'/' if !divides_after(out.last().map(|t| &t.tok)) => match regex(b, i) {
                Some(end) => {
                    out.push(Token {
                        tok: Tok::Value,
                        line,
                        in_try: in_try(&braces),
                    });
                    i = end;
                }
                None => {
                    out.push(Token {
                        tok: Tok::Punct('/'),
                        line,
                        in_try: in_try(&braces),
                    });
                    i += 1;
                }
            },
            _ if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Value,
                    line,
                    in_try: in_try(&braces),
                });
            }
            _ if c == b'_' || c == b'$' || c.is_ascii_alphabetic() || c >= 0x80 || c == b'\\' => {
                let start = i;
                while i < b.len()
                    && (b[i] == b'_'
                        || b[i] == b'$'
                        || b[i].is_ascii_alphanumeric()
                        || b[i] >= 0x80
                        || b[i] == b'\\')
                {
                    i += 1;
                }
                let name = String::from_utf8_lossy(&b[start..i]).into_owned();
                out.push(Token {
                    tok: Tok::Ident(name),
                    line,
                    in_try: in_try(&braces),
                });
            }
            _ => {
                let p = c as char;
                if p == '{' {
                    let is_try =
                        matches!(out.last().map(|t| &t.tok), Some(Tok::Ident(n)) if n == "try");
                    braces.push(if is_try { Brace::Try } else { Brace::Block });
                } else if p == '}' {
                    braces.pop();
                }
                out.push(Token {
                    tok: Tok::Punct(p),
                    line,
                    in_try: in_try(&braces),
                });
                i += 1;
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Brace {
    Block,
    Try,
    Template,
}

/// A quoted string starting at `b[start]`; returns its value and the index after it. An
/// unterminated string ends at the line end, as the engine would reject it anyway.
fn string(b: &[u8], start: usize, line: &mut usize) -> (String, usize) {
    let quote = b[start];
    let mut i = start + 1;
    let mut value = Vec::new();
    while i < b.len() && b[i] != quote {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                let e = b[i + 1];
                match e {
                    b'n' => value.push(b'\n'),
                    b't' => value.push(b'\t'),
                    b'\n' => *line += 1,
                    other => value.push(other),
                }
                i += 2;
            }
            b'\n' => break,
            other => {
                value.push(other);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&value).into_owned(), i + 1)
}

/// A template literal's text from `start` (after the backquote or the `}` closing a
/// substitution). Returns the token, the index after the part read, and whether it stopped at a
/// `${` (the caller then lexes the substitution as code).
fn template(b: &[u8], start: usize, line: &mut usize) -> (Tok, usize, bool) {
    let mut i = start;
    let mut value = Vec::new();
    while i < b.len() {
        match b[i] {
            b'`' => {
                let tok = if start > 0 && b[start - 1] == b'`' {
                    Tok::Template(String::from_utf8_lossy(&value).into_owned())
                } else {
                    Tok::Value
                };
                return (tok, i + 1, false);
            }
            b'$' if b.get(i + 1) == Some(&b'{') => return (Tok::Value, i + 2, true),
            b'\\' => {
                if b.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                if let Some(&e) = b.get(i + 1) {
                    value.push(e);
                }
                i += 2;
            }
            c => {
                if c == b'\n' {
                    *line += 1;
                }
                value.push(c);
                i += 1;
            }
        }
    }
    (Tok::Value, i, false)
}

/// A regular expression literal starting at `b[start]` (a `/`): the index after its flags, or
/// `None` when the line ends first (then the `/` was a division after all).
fn regex(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    let mut class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\n' => return None,
            b'[' => {
                class = true;
                i += 1;
            }
            b']' => {
                class = false;
                i += 1;
            }
            b'/' if !class => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphabetic()) {
                    i += 1;
                }
                return Some(i);
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(src: &str) -> Vec<(String, How)> {
        imports(src, true)
            .into_iter()
            .map(|i| (i.specifier, i.how))
            .collect()
    }

    fn s(v: &str, how: How) -> (String, How) {
        (v.to_string(), how)
    }

    #[test]
    fn every_form_of_import_with_a_literal() {
        let src = r#"
import a from 'a'
import * as b from "b"
import { c1, c2 as cc } from 'c'
import d, { d2 } from 'd'
import 'e'
export * from 'f'
export * as g from 'g'
export { h } from 'h'
export { default } from 'i'
const j = require('j')
const k = await import('k')
import('l', { with: { type: 'json' } })
import m from 'm' with { type: 'json' }
import { "n-n" as n } from 'n'
"#;
        let got = specs(src);
        let want = vec![
            s("a", How::Static),
            s("b", How::Static),
            s("c", How::Static),
            s("d", How::Static),
            s("e", How::Static),
            s("f", How::Static),
            s("g", How::Static),
            s("h", How::Static),
            s("i", How::Static),
            s("j", How::Require),
            s("k", How::Dynamic),
            s("l", How::Dynamic),
            s("m", How::Static),
            s("n", How::Static),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn strings_comments_templates_and_regexes_are_not_code() {
        let src = r#"
// require('in-a-comment')
/* import x from 'in-a-block-comment' */
const s = "require('in-a-string')"
const t = `import('in-a-template') ${ require('in-a-substitution') } require('after')`
const r = /require\('in-a-regex'\)/g
const q = a / 2; const z = b / require('divided')
const re2 = x.replace(/['"]/g, '') ; require('after-regex')
export { local }
const obj = { import: 1, require: 2 }; obj.require('method'); x.import('prop')
const dyn = require(name); const tpl = require(`tpl`)
"#;
        assert_eq!(
            specs(src),
            vec![
                s("in-a-substitution", How::Require),
                s("divided", How::Require),
                s("after-regex", How::Require),
                s("tpl", How::Require),
            ]
        );
    }

    #[test]
    fn a_require_made_for_this_file_by_create_require_loads_like_require() {
        let src = r#"
import { createRequire } from 'node:module'
import module from 'node:module'
const req = createRequire(import.meta.url)
const other = module.createRequire(import.meta.filename)
const pkg = req('bound-pkg')
other('other-pkg')
createRequire(import.meta.url)('inline-pkg')
const elsewhere = createRequire(process.cwd() + '/package.json')
elsewhere('resolved-elsewhere')
obj.req('a-method')
req(variable)
"#;
        assert_eq!(
            specs(src),
            [
                s("node:module", How::Static),
                s("node:module", How::Static),
                s("bound-pkg", How::Require),
                s("other-pkg", How::Require),
                s("inline-pkg", How::Require),
            ]
        );
    }

    #[test]
    fn typescript_type_only_imports_load_nothing() {
        let src = r#"
import type { A } from 'types-a'
import type B from 'types-b'
export type { C } from 'types-c'
export type * from 'types-d'
import { type E, f } from 'real-e'
import type, { g } from 'real-g'
"#;
        assert_eq!(
            specs(src),
            vec![s("real-e", How::Static), s("real-g", How::Static)]
        );
        // In JavaScript `type` is only a name.
        let js = imports("import type from 'js-type'", false);
        assert_eq!(js[0].specifier, "js-type");
    }

    #[test]
    fn lines_and_try_blocks_are_recorded() {
        let src =
            "const a = require('a')\n\ntry {\n  require('optional')\n} catch {}\nrequire('b')\n";
        let got = imports(src, false);
        assert_eq!(
            got.iter()
                .map(|i| (i.specifier.as_str(), i.line, i.in_try))
                .collect::<Vec<_>>(),
            vec![("a", 1, false), ("optional", 4, true), ("b", 6, false)]
        );
    }

    #[test]
    fn a_hashbang_and_jsx_like_text_do_not_confuse_it() {
        let src =
            "#!/usr/bin/env node\nimport x from 'x'\nconst el = a < b ? '/' : \"/\"\nimport('y')\n";
        assert_eq!(specs(src), vec![s("x", How::Static), s("y", How::Dynamic)]);
    }
}
