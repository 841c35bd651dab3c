//! Where the items come from: the command line and `--from FILE` / `--from -` (standard input,
//! read only when asked for). One item per line; blank lines and `#` comments are skipped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The items of the command line followed by those of `from`, in order.
pub fn gather(args: &[String], from: Option<&Path>) -> Result<Vec<String>, String> {
    let mut items: Vec<String> = args.to_vec();
    match from {
        None => {}
        Some(p) if p.as_os_str() == "-" => {
            read_lines(std::io::stdin().lock(), "standard input", &mut items)?
        }
        Some(p) => {
            let file = std::fs::File::open(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            read_lines(BufReader::new(file), &p.display().to_string(), &mut items)?
        }
    }
    Ok(items)
}

/// Append each meaningful line of `input` to `items`: trimmed, skipping blanks and comments.
pub fn read_lines(input: impl Read, name: &str, items: &mut Vec<String>) -> Result<(), String> {
    let reader = BufReader::new(input);
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("cannot read {name}: {e}"))?;
        let line = String::from_utf8(line)
            .map_err(|_| format!("{name}, line {}: not valid UTF-8", n + 1))?;
        let item = line.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        items.push(item.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_blanks_and_comments_and_trims() {
        let mut items = vec!["/first".to_owned()];
        let text = "# changed files\n\n  /a.png \r\n/b.css\r\n   \n# end\n/c";
        read_lines(text.as_bytes(), "t", &mut items).unwrap();
        assert_eq!(items, ["/first", "/a.png", "/b.css", "/c"]);
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let mut items = Vec::new();
        let e = read_lines(&b"/a\n/\xff\n"[..], "list.txt", &mut items).unwrap_err();
        assert_eq!(e, "list.txt, line 2: not valid UTF-8");
    }
}
