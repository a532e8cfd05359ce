//! Checks that every option of the config fragments survived `olddefconfig`.
//! Kconfig silently drops an option whose dependencies are not met; a kernel
//! built without, say, CONFIG_SYNC_FILE would make every fence test skip.

use std::collections::HashMap;

/// One fragment line whose value is not what `.config` ended up with.
#[derive(Debug, PartialEq, Eq)]
pub struct Lost {
    pub fragment: String,
    pub line: usize,
    pub option: String,
    pub wanted: String,
    pub got: String,
}

/// Parse `.config` text into option -> value ("n" for `# CONFIG_X is not set`).
pub fn parse_config(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(opt) = rest.strip_suffix(" is not set") {
                map.insert(opt.to_string(), "n".to_string());
            }
        } else if let Some((k, v)) = line.split_once('=') {
            if k.starts_with("CONFIG_") {
                map.insert(k.to_string(), v.to_string());
            }
        }
    }
    map
}

/// Compare one fragment against the final config.
pub fn verify(fragment_name: &str, fragment: &str, config: &HashMap<String, String>) -> Vec<Lost> {
    let mut lost = Vec::new();
    for (idx, raw) in fragment.lines().enumerate() {
        let line = raw.trim();
        let (option, wanted) = if let Some(rest) = line.strip_prefix("# ") {
            match rest.strip_suffix(" is not set") {
                Some(opt) if opt.starts_with("CONFIG_") => (opt, "n"),
                _ => continue,
            }
        } else if let Some((k, v)) = line.split_once('=') {
            if !k.starts_with("CONFIG_") {
                continue;
            }
            (k, v)
        } else {
            continue;
        };
        let got = config.get(option).map(String::as_str).unwrap_or("n");
        if got != wanted {
            lost.push(Lost {
                fragment: fragment_name.to_string(),
                line: idx + 1,
                option: option.to_string(),
                wanted: wanted.to_string(),
                got: got.to_string(),
            });
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_S=\"x\"\n";

    #[test]
    fn survivors_pass() {
        let cfg = parse_config(CONFIG);
        let frag = "# comment\nCONFIG_A=y\nCONFIG_B=m\nCONFIG_C=n\n# CONFIG_D is not set\nCONFIG_S=\"x\"\n";
        assert_eq!(verify("f", frag, &cfg), vec![]);
    }

    #[test]
    fn dropped_and_changed_options_are_named_with_their_line() {
        let cfg = parse_config(CONFIG);
        let lost = verify("frag", "CONFIG_A=m\n\nCONFIG_E=y\n", &cfg);
        assert_eq!(lost.len(), 2);
        assert_eq!((lost[0].option.as_str(), lost[0].line), ("CONFIG_A", 1));
        assert_eq!(lost[0].got, "y");
        assert_eq!((lost[1].option.as_str(), lost[1].line), ("CONFIG_E", 3));
        assert_eq!(lost[1].got, "n");
    }
}
