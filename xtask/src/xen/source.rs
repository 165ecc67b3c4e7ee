//! Debian's Xen 4.17 source: the `deb-src` entry `apt-get source` needs,
//! and the fetch into `target/xen/src/`.

use super::*;

/// The unpacked source tree in `cache`, if there is one.
pub(super) fn find_source(cache: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("xen-4.17"))
                && p.join("xen").join("Makefile").is_file()
        })
        .collect();
    dirs.sort();
    dirs.pop()
}

/// APT source files: (path, contents).
pub(super) fn apt_sources() -> Vec<(PathBuf, String)> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    files
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".list") || n.ends_with(".sources")
        })
        .filter_map(|p| fs::read_to_string(&p).ok().map(|s| (p, s)))
        .collect()
}

/// The deb822 stanzas of a `.sources` file, as field maps (lower-case keys).
pub(super) fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(k) = &last {
                let v: &mut String = cur.entry(k.clone()).or_default();
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            cur.insert(k.clone(), v.trim().to_string());
            last = Some(k);
        }
    }
    out
}

pub(super) fn words(s: Option<&String>) -> Vec<&str> {
    s.map(|s| s.split_whitespace().collect())
        .unwrap_or_default()
}

/// Whether a stanza / list line of `kind` (deb or deb-src) serves bookworm main.
pub(super) fn stanza_is(st: &BTreeMap<String, String>, kind: &str) -> bool {
    words(st.get("types")).contains(&kind)
        && words(st.get("suites")).contains(&"bookworm")
        && words(st.get("components")).contains(&"main")
        && st.get("enabled").is_none_or(|e| e.trim() != "no")
}

pub(super) fn list_line_is(line: &str, kind: &str) -> bool {
    let l = line.trim();
    let mut w = l.split_whitespace();
    if w.next() != Some(kind) {
        return false;
    }
    // deb [opts] URI suite components...
    let rest: Vec<&str> = if l.contains('[') {
        l.split_once(']')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default()
    } else {
        w.collect()
    };
    rest.get(1) == Some(&"bookworm") && rest.iter().skip(2).any(|c| *c == "main")
}

pub(super) fn has_deb_src() -> bool {
    apt_sources().iter().any(|(p, text)| {
        if p.to_string_lossy().ends_with(".sources") {
            stanzas(text).iter().any(|s| stanza_is(s, "deb-src"))
        } else {
            text.lines().any(|l| list_line_is(l, "deb-src"))
        }
    })
}

/// A deb-src twin of the machine's own bookworm main `deb` entry (same
/// mirror, same key): (file name, contents).
pub(super) fn deb_src_twin() -> Option<(&'static str, String)> {
    for (p, text) in apt_sources() {
        if p.to_string_lossy().ends_with(".sources") {
            if let Some(s) = stanzas(&text).into_iter().find(|s| stanza_is(s, "deb")) {
                let mut t =
                    String::from("# Added by `cargo xtask xen-build` (apt-get source xen).\n");
                t.push_str("Types: deb-src\n");
                t.push_str(&format!("URIs: {}\n", s.get("uris")?));
                t.push_str("Suites: bookworm\nComponents: main\n");
                if let Some(k) = s.get("signed-by") {
                    t.push_str(&format!("Signed-By: {}\n", k.replace('\n', "\n ")));
                }
                return Some(("xtask-xen-src.sources", t));
            }
        } else if let Some(l) = text.lines().find(|l| list_line_is(l, "deb")) {
            let l = l.trim().replacen("deb", "deb-src", 1);
            return Some((
                "xtask-xen-src.list",
                format!("# Added by `cargo xtask xen-build` (apt-get source xen).\n{l}\n"),
            ));
        }
    }
    None
}

pub(super) const DEB_SRC_HELP: &str =
    "no deb-src entry for Debian bookworm main: add a `deb-src` twin of \
     the bookworm `deb` entry in /etc/apt/sources.list.d/ (in a .sources file: `Types: deb-src`, \
     same URIs, `Suites: bookworm`, `Components: main`), then `apt-get update` \
     (as root, xen-build adds it itself)";

/// Makes sure `apt-get source` can work: adds the deb-src entry when root.
pub(super) fn ensure_deb_src(log: &Path) -> Result {
    if has_deb_src() {
        return Ok(());
    }
    if !is_root() {
        return Err(DEB_SRC_HELP.into());
    }
    let (name, text) = deb_src_twin().ok_or(DEB_SRC_HELP)?;
    let path = Path::new("/etc/apt/sources.list.d").join(name);
    fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "    added {} (deb-src for bookworm main); running apt-get update",
        path.display()
    );
    run_logged(command("apt-get", &["update"]), log)
}

/// The unpacked Xen 4.17 source in the cache, fetched if needed.
pub(super) fn fetch_source(log: &Path) -> Result<PathBuf> {
    let cache = xen_dir().join("src");
    if let Some(d) = find_source(&cache) {
        println!("    cached: {}", d.display());
        return Ok(d);
    }
    require(&[("apt-get", "apt"), ("dpkg-source", "dpkg-dev")])?;
    ensure_deb_src(log)?;
    mkdirs(&cache)?;
    let get = || {
        let mut c = cmd("apt-get");
        c.args(["source", "xen"]).current_dir(&cache);
        run_logged(c, log)
    };
    if let Err(e) = get() {
        // A deb-src entry whose index was never fetched: update once.
        if !is_root() {
            return Err(format!(
                "{e}\n(if the deb-src entry is new: apt-get update)"
            ));
        }
        run_logged(command("apt-get", &["update"]), log)?;
        get()?;
    }
    let d = find_source(&cache).ok_or("apt-get source xen left no xen-4.17* tree")?;
    println!("    fetched: {}", d.display());
    Ok(d)
}

// ---------------------------------------------------------------------------
// The Rust object.
