//! Where the items come from: the command line and `--from FILE` / `--from -` (standard input,
//! read only when asked for). One item per line; blank lines and `#` comments are skipped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One item and where it was given (kept small: a list may have a million lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub text: String,
    /// An argument (false) or a line of the `--from` input (true).
    pub from_input: bool,
    /// Its number there, from 1 (the argument's place, or the line).
    pub number: usize,
}

/// The items, and the name of the `--from` input for messages.
#[derive(Debug, Default)]
pub struct Items {
    pub items: Vec<Item>,
    pub input_name: String,
}

impl Items {
    /// `argument 2`, `list.txt line 7`, `standard input line 7`.
    pub fn origin(&self, item: &Item) -> String {
        if item.from_input {
            format!("{} line {}", self.input_name, item.number)
        } else {
            format!("argument {}", item.number)
        }
    }
}

/// The items of the command line followed by those of `from`, in order.
pub fn gather(args: &[String], from: Option<&Path>) -> Result<Items, String> {
    let mut items: Vec<Item> = args
        .iter()
        .enumerate()
        .map(|(i, a)| Item {
            text: a.trim().to_owned(),
            from_input: false,
            number: i + 1,
        })
        .collect();
    let input_name = match from {
        None => String::new(),
        Some(p) if p.as_os_str() == "-" => {
            crate::signals::blocking(|| {
                read_lines(std::io::stdin().lock(), "standard input", &mut items)
            })?;
            "standard input".to_owned()
        }
        Some(p) => {
            let name = p.display().to_string();
            let file = std::fs::File::open(p).map_err(|e| format!("cannot read {name}: {e}"))?;
            read_lines(file, &name, &mut items)?;
            name
        }
    };
    Ok(Items { items, input_name })
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
            from_input: true,
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
        assert_eq!((items[1].from_input, items[1].number), (true, 4));
        assert_eq!(items[2].number, 7);
    }

    #[test]
    fn arguments_come_first_then_the_file() {
        let dir = std::env::temp_dir().join(format!("gcdn-cli-input-{}", std::process::id()));
        std::fs::write(&dir, "/from-file\n").unwrap();
        let items = gather(&["/arg".to_owned()], Some(&dir)).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(items.origin(&items.items[0]), "argument 1");
        assert_eq!(items.items[1].text, "/from-file");
        assert_eq!(
            items.origin(&items.items[1]),
            format!("{} line 1", dir.display())
        );
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
