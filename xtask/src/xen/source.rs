//! Debian's Xen 4.17 source: the `deb-src` entry `apt-get source` needs,
//! and the fetch of the pinned version (or, failing that, another 4.17.x the
//! patch applies to) into `target/xen/src/<version>/`.

use std::cmp::Ordering;

use super::*;

/// The Debian version of Xen's source that xen-build builds: the one the
/// patch was made for and the smoke test passed with. apt's own choice
/// (`apt-get source xen`) follows whichever suites the machine lists (with
/// bookworm-security, 4.17.7+13), so it is asked for this one by name.
/// Written once, in `xen-glue/xen/pinned-version`, which `xen-oracle`'s
/// build script reads too.
pub(super) const XEN_PINNED: &str =
    include_str!("../../../xen-glue/xen/pinned-version").trim_ascii();

/// The source a build uses: where, which version, and why that one.
pub(super) struct XenSource {
    pub(super) dir: PathBuf,
    pub(super) version: String,
    /// `pinned`, or `fallback: pinned X could not be fetched: why`.
    pub(super) how: String,
}

impl XenSource {
    /// `4.17.5+72-g01140da4e8-1 (pinned)`: printed, and `out/xen-version.txt`.
    pub(super) fn describe(&self) -> String {
        format!("{} ({})", self.version, self.how)
    }
}

/// The unpacked tree of `version` in `cache` (`<version>/xen-<upstream>`,
/// as `apt-get source` leaves it), if it is there: never another version.
fn find_source(cache: &Path, version: &str) -> Option<PathBuf> {
    let (_, upstream, _) = deb_version_parts(version);
    let d = cache.join(version).join(format!("xen-{upstream}"));
    d.join("xen").join("Makefile").is_file().then_some(d)
}

/// Fetches `version` with `apt-get source xen=<version>` into
/// `cache/<version>`, through a `.part` directory renamed when complete, so
/// a failed or interrupted fetch never looks like a cached tree.
fn fetch_version(cache: &Path, version: &str, log: &Path) -> Result<PathBuf> {
    let part = cache.join(format!("{version}.part"));
    let done = cache.join(version);
    for d in [&part, &done] {
        if d.exists() {
            fs::remove_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
    }
    mkdirs(&part)?;
    let mut c = cmd("apt-get");
    c.args(["source", &format!("xen={version}")])
        .current_dir(&part);
    run_logged(c, log)?;
    fs::rename(&part, &done).map_err(|e| format!("{}: {e}", done.display()))?;
    find_source(cache, version)
        .ok_or_else(|| format!("apt-get source left no xen tree in {}", done.display()))
}

/// The tree of `version`, cached or fetched, if the project's patch applies
/// to it as `xen-build` applies it (`patch --dry-run`).
fn fallback_tree(cache: &Path, version: &str, log: &Path) -> Result<PathBuf> {
    let dir = match find_source(cache, version) {
        Some(d) => d,
        None => fetch_version(cache, version, log).map_err(|e| apt_reason(&e))?,
    };
    let mut c = patch_command(&dir);
    c.arg("--dry-run");
    run_logged(c, log).map_err(|_| format!("{PATCH} does not apply"))?;
    Ok(dir)
}

/// The line of a failed command's error that says why: apt's first `E:`
/// line (the failed download), else the last line.
fn apt_reason(e: &str) -> String {
    let lines = || e.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| l.starts_with("E: "))
        .or_else(|| lines().next_back())
        .unwrap_or("failed")
        .to_string()
}

/// The 4.17.x versions of the `xen` source package in `apt-cache showsrc
/// xen` output other than `pinned`, newest first: the fallbacks to try.
fn fallback_candidates(showsrc: &str, pinned: &str) -> Vec<String> {
    let mut v: Vec<String> = stanzas(showsrc)
        .into_iter()
        .filter(|s| s.get("package").is_some_and(|p| p == "xen"))
        .filter_map(|s| s.get("version").cloned())
        .filter(|v| v != pinned && deb_version_parts(v).1.starts_with("4.17."))
        .collect();
    v.sort_by(|a, b| deb_version_cmp(b, a));
    v.dedup();
    v
}

/// A Debian version's (epoch, upstream, revision), as deb-version(7) splits it.
fn deb_version_parts(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e.parse().unwrap_or(0), r),
        None => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// Debian's version order (dpkg's `--compare-versions`): epochs as numbers,
/// then upstream and revision by [`deb_part_cmp`].
fn deb_version_cmp(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = deb_version_parts(a);
    let (eb, ub, rb) = deb_version_parts(b);
    ea.cmp(&eb)
        .then_with(|| deb_part_cmp(ua, ub))
        .then_with(|| deb_part_cmp(ra, rb))
}

/// dpkg's `verrevcmp`: alternating non-digit runs (compared character by
/// character, `~` before everything, even the end; letters before other
/// characters) and digit runs (compared as numbers).
fn deb_part_cmp(a: &str, b: &str) -> Ordering {
    fn order(c: Option<&u8>) -> i32 {
        match c {
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_alphabetic() => i32::from(*c),
            Some(c) => i32::from(*c) + 256,
        }
    }
    let non_digit = |s: &[u8]| s.first().is_some_and(|c| !c.is_ascii_digit());
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        while non_digit(a) || non_digit(b) {
            let (oa, ob) = (order(a.first()), order(b.first()));
            if oa != ob {
                return oa.cmp(&ob);
            }
            (a, b) = (&a[1..], &b[1..]);
        }
        let (na, nb) = (digits(a), digits(b));
        let (da, db) = (&a[..na], &b[..nb]);
        let (da, db) = (trim_zeros(da), trim_zeros(db));
        let by_number = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if by_number != Ordering::Equal {
            return by_number;
        }
        (a, b) = (&a[na..], &b[nb..]);
    }
    Ordering::Equal
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|c| **c == b'0').count();
    &d[z..]
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

/// The Xen source to build: the pinned version (cached, else fetched); if
/// apt cannot fetch it, the newest other 4.17.x apt knows that the patch
/// applies to; else one error naming every version tried and why.
pub(super) fn fetch_source(log: &Path) -> Result<XenSource> {
    let cache = xen_dir().join("src");
    let pinned = |dir, how: &str| XenSource {
        dir,
        version: XEN_PINNED.to_string(),
        how: how.to_string(),
    };
    if let Some(d) = find_source(&cache, XEN_PINNED) {
        println!("    cached: {}", d.display());
        return Ok(pinned(d, "pinned"));
    }
    require(&[
        ("apt-get", "apt"),
        ("apt-cache", "apt"),
        ("dpkg-source", "dpkg-dev"),
    ])?;
    ensure_deb_src(log)?;
    let mut got = fetch_version(&cache, XEN_PINNED, log);
    if got.is_err() && is_root() {
        // A deb-src entry whose index was never fetched: update once.
        run_logged(command("apt-get", &["update"]), log)?;
        got = fetch_version(&cache, XEN_PINNED, log);
    }
    let why = match got {
        Ok(d) => {
            println!("    fetched: {}", d.display());
            return Ok(pinned(d, "pinned"));
        }
        Err(e) => apt_reason(&e),
    };
    println!("    pinned {XEN_PINNED} could not be fetched: {why}");
    let mut tried = vec![format!("{XEN_PINNED} (pinned): {why}")];
    let listed = output(command("apt-cache", &["showsrc", "xen"]));
    let candidates = match &listed {
        Ok(text) => fallback_candidates(text, XEN_PINNED),
        Err(e) => {
            tried.push(format!("apt-cache showsrc xen: {}", apt_reason(e)));
            Vec::new()
        }
    };
    for v in candidates {
        println!("    trying {v}");
        match fallback_tree(&cache, &v, log) {
            Ok(dir) => {
                return Ok(XenSource {
                    dir,
                    version: v,
                    how: format!("fallback: pinned {XEN_PINNED} could not be fetched: {why}"),
                })
            }
            Err(e) => tried.push(format!("{v}: {e}")),
        }
    }
    Err(format!(
        "no usable Xen 4.17.x source; tried {} (log: {})",
        tried.join("; "),
        log.display()
    ))
}

/// `cargo xtask xen-source`: the tree xen-build would use, fetched if
/// need be; xen-oracle's build script finds it there.
pub fn xen_source(args: &[String]) -> Result {
    if let Some(a) = args.first() {
        return Err(format!("unexpected argument `{a}` (usage: xen-source)"));
    }
    let log = xen_dir().join("logs").join("xen-source.log");
    let src = fetch_source(&log)?;
    println!("Xen source: {} in {}", src.describe(), src.dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `apt-cache showsrc xen` on a machine listing bookworm and
    /// bookworm-security sources (abridged): the pinned version twice, a
    /// newer security one, an older and a newer 4.17, a 4.16 and another
    /// package.
    const SHOWSRC: &str = "\
Package: xen
Binary: libxen-dev, xen-hypervisor-4.17-amd64
Version: 4.17.5+72-g01140da4e8-1
Maintainer: Debian Xen Team <pkg-xen-devel@lists.alioth.debian.org>
Build-Depends: bison, flex
Package-List:
 libxen-dev deb libdevel optional arch=amd64,arm64,armhf
 xen-hypervisor-4.17-amd64 deb kernel optional arch=amd64
Files:
 a06455fe8e2cb343077c1160dcbb542d 4735560 xen_4.17.5+72-g01140da4e8.orig.tar.xz

Package: xen
Binary: libxen-dev, xen-hypervisor-4.17-amd64
Version: 4.17.7+13-g3c5a2b1d09-1
Files:
 0cc6fc105905d9e93bd1a9bc6ebac890 139916 xen_4.17.7+13-g3c5a2b1d09-1.debian.tar.xz

Package: xen
Version: 4.17.5+72-g01140da4e8-1

Package: xen
Version: 4.17.10-1

Package: xen
Version: 4.17.3+10-g091466ba55-1~deb12u1

Package: xen
Version: 4.16.2+90-g0d39a6d1ae-1

Package: xen-tools
Version: 4.17.9-1
";

    const PINNED_REAL: &str = "4.17.5+72-g01140da4e8-1";

    #[test]
    fn fallbacks_are_the_other_4_17_newest_first() {
        assert_eq!(
            fallback_candidates(SHOWSRC, PINNED_REAL),
            [
                "4.17.10-1",
                "4.17.7+13-g3c5a2b1d09-1",
                "4.17.3+10-g091466ba55-1~deb12u1",
            ]
        );
    }

    #[test]
    fn no_fallback_when_apt_knows_only_the_pinned_version() {
        let only = "Package: xen\nVersion: 4.17.5+72-g01140da4e8-1\n";
        assert!(fallback_candidates(only, PINNED_REAL).is_empty());
    }

    /// (smaller, larger) pairs in dpkg's order.
    const ORDERED: &[(&str, &str)] = &[
        ("4.17.5+72-g01140da4e8-1", "4.17.7+13-g3c5a2b1d09-1"),
        ("4.17.5+72-g01140da4e8-1", "4.17.5+72-g01140da4e8-2"),
        ("4.17.3+10-g091466ba55-1~deb12u1", "4.17.3+10-g091466ba55-1"),
        ("4.17.9-1", "4.17.10-1"),
        ("4.17.5-1", "4.17.5+72-1"),
        ("1.0~rc1-1", "1.0-1"),
        ("1.0-1", "1.0a-1"),
        ("1.0a-1", "1.0+-1"),
        ("9.9-1", "1:0.1-1"),
        ("4.17.5", "4.17.5-1"),
    ];

    #[test]
    fn debian_versions_order_like_dpkg() {
        for (a, b) in ORDERED {
            assert_eq!(deb_version_cmp(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(deb_version_cmp(b, a), Ordering::Greater, "{b} > {a}");
            assert_eq!(deb_version_cmp(a, a), Ordering::Equal, "{a} = {a}");
        }
        assert_eq!(deb_version_cmp("1.01-1", "1.1-1"), Ordering::Equal);
    }

    /// The same pairs, asked of dpkg itself: the table above is dpkg's order.
    #[test]
    fn the_table_agrees_with_dpkg() {
        for (a, b) in ORDERED {
            let lt = command("dpkg", &["--compare-versions", a, "lt", b])
                .status()
                .expect("dpkg runs");
            assert!(lt.success(), "dpkg: {a} < {b}");
        }
    }

    #[test]
    fn find_source_finds_only_the_version_asked_for() {
        let cache = env::temp_dir().join(format!("xtask-find-source-{}", std::process::id()));
        let tree = |v: &str, up: &str| {
            let d = cache.join(v).join(format!("xen-{up}"));
            fs::create_dir_all(d.join("xen")).unwrap();
            fs::write(d.join("xen").join("Makefile"), "").unwrap();
            d
        };
        tree("4.17.7+13-g3c5a2b1d09-1", "4.17.7+13-g3c5a2b1d09");
        tree(&format!("{PINNED_REAL}.part"), "4.17.5+72-g01140da4e8");
        let found = find_source(&cache, PINNED_REAL);
        let pinned = tree(PINNED_REAL, "4.17.5+72-g01140da4e8");
        let found_after = find_source(&cache, PINNED_REAL);
        fs::remove_dir_all(&cache).unwrap();
        assert_eq!(
            found, None,
            "a newer or half-fetched tree is not the pinned one"
        );
        assert_eq!(found_after, Some(pinned));
    }

    /// A cached 4.17.x tree the patch does not fit (here: no Kconfig to
    /// patch) is refused, without apt.
    #[test]
    fn a_fallback_the_patch_does_not_apply_to_is_refused() {
        let cache = env::temp_dir().join(format!("xtask-fallback-{}", std::process::id()));
        let v = "4.17.7+13-g3c5a2b1d09-1";
        let xen = cache.join(v).join("xen-4.17.7+13-g3c5a2b1d09").join("xen");
        fs::create_dir_all(&xen).unwrap();
        fs::write(xen.join("Makefile"), "").unwrap();
        let r = fallback_tree(&cache, v, &cache.join("log"));
        fs::remove_dir_all(&cache).unwrap();
        assert_eq!(r, Err(format!("{PATCH} does not apply")));
    }

    #[test]
    fn apt_reason_is_apts_first_error_line() {
        let e = "\"apt-get\" \"source\" \"xen=4.17.7+13-1\" failed (exit status: 100); last lines of log:\n\
                 Get:1 http://deb.debian.org/debian-security bookworm-security/main xen 4.17.7+13-1 (dsc)\n\
                 Err:2 http://deb.debian.org/debian-security bookworm-security/main xen 4.17.7+13-1 (tar)\n  404  Not Found\n\
                 E: Failed to fetch http://deb.debian.org/xen_4.17.7+13.orig.tar.xz  404  Not Found\n\
                 E: Failed to fetch some archives.\n";
        assert_eq!(
            apt_reason(e),
            "E: Failed to fetch http://deb.debian.org/xen_4.17.7+13.orig.tar.xz  404  Not Found"
        );
        assert_eq!(apt_reason("a\nb failed\n\n"), "b failed");
    }
}
