//! Where the items come from: the command line and `--from FILE` / `--from -` (standard input,
//! read only when asked for). One item per line; blank lines and `#` comments are skipped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One item and where it was given, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub text: String,
    /// `argument 2`, `list.txt line 7`, `standard input line 7`.
    pub origin: String,
    /// Its number there, from 1 (the argument's place, or the line).
    pub number: usize,
}

/// The items of the command line followed by those of `from`, in order.
pub fn gather(args: &[String], from: Option<&Path>) -> Result<Vec<Item>, String> {
    let mut items: Vec<Item> = args
        .iter()
        .enumerate()
        .map(|(i, a)| Item {
            text: a.trim().to_owned(),
            origin: format!("argument {}", i + 1),
            number: i + 1,
        })
        .collect();
    match from {
        None => {}
        Some(p) if p.as_os_str() == "-" => crate::signals::blocking(|| {
            read_lines(std::io::stdin().lock(), "standard input", &mut items)
        })?,
        Some(p) => {
            let file =
                std::fs::File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            read_lines(file, &p.display().to_string(), &mut items)?
        }
    }
    Ok(items)
}

/// Append each meaningful line of `input` to `items`: trimmed, skipping blanks and comments.
pub fn read_lines(input: impl Read, name: &str, items: &mut Vec<Item>) -> Result<(), String> {
    let reader = BufReader::new(input);
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("cannot read {name}: {e}"))?;
        let line = String::from_utf8(line)
            .map_err(|_| format!("{name} line {}: not valid UTF-8", n + 1))?;
        let item = line.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        items.push(Item {
            text: item.to_owned(),
            origin: format!("{name} line {}", n + 1),
            number: n + 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_blanks_and_comments_and_trims() {
        let mut items = Vec::new();
        let text = "# changed files\n\n  /a.png \r\n/b.css\r\n   \n# end\n/c";
        read_lines(text.as_bytes(), "t", &mut items).unwrap();
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts, ["/a.png", "/b.css", "/c"]);
        assert_eq!(items[1].origin, "t line 4");
        assert_eq!(items[2].number, 7);
    }

    #[test]
    fn arguments_come_first_then_the_file() {
        let dir = std::env::temp_dir().join(format!("gcdn-cli-input-{}", std::process::id()));
        std::fs::write(&dir, "/from-file\n").unwrap();
        let items = gather(&["/arg".to_owned()], Some(&dir)).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(items[0].origin, "argument 1");
        assert_eq!(items[1].text, "/from-file");
        assert!(items[1].origin.ends_with(" line 1"));
        let e = gather(&[], Some(Path::new("/nonexistent/list.txt"))).unwrap_err();
        assert!(e.starts_with("cannot read /nonexistent/list.txt"), "{e}");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let mut items = Vec::new();
        let e = read_lines(&b"/a\n/\xff\n"[..], "list.txt", &mut items).unwrap_err();
        assert_eq!(e, "list.txt line 2: not valid UTF-8");
    }
}
