//! Tenant-name globs for `[[tenant_quotas.assignments]]` (`free_tenant_*`).
//!
//! Supported: `*` (any run, including empty), `?` (one character), `[abc]`, `[a-z]`,
//! `[!abc]` and `\` escapes. Patterns are validated when the configuration loads. A tiny
//! matcher rather than a regex engine keeps the WebAssembly build small.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    toks: Vec<Tok>,
}

impl Glob {
    /// Compiles `pattern`; the error says what is wrong and at which character.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("pattern must not be empty".into());
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                '?' => toks.push(Tok::Any),
                '\\' => {
                    i += 1;
                    let Some(&c) = chars.get(i) else {
                        return Err(format!("dangling escape at character {}", i));
                    };
                    toks.push(Tok::Lit(c));
                }
                '[' => {
                    let start = i;
                    i += 1;
                    let negated = matches!(chars.get(i), Some('!') | Some('^'));
                    if negated {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&c) = chars.get(i) else {
                            return Err(format!("unclosed `[` at character {}", start + 1));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
                            let e = chars[i + 2];
                            if e < c {
                                return Err(format!("invalid range `{c}-{e}` at character {}", i + 1));
                            }
                            ranges.push((c, e));
                            i += 3;
                        } else {
                            ranges.push((c, c));
                            i += 1;
                        }
                    }
                    toks.push(Tok::Class { negated, ranges });
                }
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        Ok(Glob { source: pattern.to_owned(), toks })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        // Iterative wildcard matching with single backtrack point (linear for `*` runs).
        let (mut p, mut i) = (0usize, 0usize);
        let (mut star_p, mut star_i) = (usize::MAX, 0usize);
        while i < s.len() {
            let ok = match self.toks.get(p) {
                Some(Tok::Lit(c)) => *c == s[i],
                Some(Tok::Any) => true,
                Some(Tok::Class { negated, ranges }) => ranges.iter().any(|&(a, b)| a <= s[i] && s[i] <= b) != *negated,
                Some(Tok::Star) => {
                    star_p = p;
                    star_i = i;
                    p += 1;
                    continue;
                }
                None => false,
            };
            if ok {
                p += 1;
                i += 1;
            } else if star_p != usize::MAX {
                p = star_p + 1;
                star_i += 1;
                i = star_i;
            } else {
                return false;
            }
        }
        self.toks[p..].iter().all(|t| *t == Tok::Star)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn matches_like_shell_globs() {
        let g = Glob::new("free_tenant_*").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(g.matches("free_tenant_042"));
        assert!(g.matches("free_tenant_"));
        assert!(!g.matches("pro_tenant_1"));
        let g = Glob::new("t[0-9]?x*y").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(g.matches("t1axzzy"));
        assert!(!g.matches("tax"));
        assert!(Glob::new("a[!b]c").is_ok_and(|g| g.matches("axc") && !g.matches("abc")));
        assert!(Glob::new("a\\*").is_ok_and(|g| g.matches("a*") && !g.matches("ab")));
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(Glob::new("a[bc").is_err());
        assert!(Glob::new("").is_err());
        assert!(Glob::new("x\\").is_err());
        assert!(Glob::new("[z-a]").is_err());
    }
}
