//! The audit of the Rust object: from the `rs_sched_*` entries along the
//! relocations, any reachable panic path, float symbol or FPU instruction,
//! and the undefined symbols; `cargo xtask xen-audit`.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Sym {
    pub(super) name: String,
    pub(super) demangled: String,
    pub(super) kind: String,
    /// Section index; None = undefined.
    pub(super) ndx: Option<usize>,
}

/// The byte offset of whitespace-separated field `n` (0-based) of `l`.
pub(super) fn field_start(l: &str, n: usize) -> Option<usize> {
    let mut count = 0;
    let mut in_field = false;
    for (i, c) in l.char_indices() {
        if c.is_whitespace() {
            in_field = false;
        } else if !in_field {
            if count == n {
                return Some(i);
            }
            count += 1;
            in_field = true;
        }
    }
    None
}

/// `readelf -sW` (plain and demangled), index for index.
pub(super) fn read_symbols(obj: &Path) -> Result<Vec<Sym>> {
    let plain = output(command("readelf", &[Path::new("-sW"), obj]))?;
    let dem = output(command(
        "readelf",
        &[Path::new("-sW"), Path::new("-C"), obj],
    ))?;
    let parse = |text: &str| -> BTreeMap<usize, (String, String, Option<usize>)> {
        let mut m = BTreeMap::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Num: Value Size Type Bind Vis Ndx [Name...]
            if f.len() < 7 || !f[0].ends_with(':') {
                continue;
            }
            let Ok(num) = f[0].trim_end_matches(':').parse::<usize>() else {
                continue;
            };
            let ndx = f[6].parse::<usize>().ok();
            // Demangled names may hold spaces: everything from field 8 on.
            let name = field_start(l, 7)
                .map(|i| l[i..].trim().to_string())
                .unwrap_or_default();
            m.insert(num, (f[3].to_string(), name, ndx));
        }
        m
    };
    let p = parse(&plain);
    let d = parse(&dem);
    Ok(p.into_iter()
        .map(|(num, (kind, name, ndx))| Sym {
            demangled: d
                .get(&num)
                .map(|x| x.1.clone())
                .unwrap_or_else(|| name.clone()),
            name,
            kind,
            ndx,
        })
        .collect())
}

/// Section headers: index -> (name, type, info).
pub(super) fn read_sections(obj: &Path) -> Result<BTreeMap<usize, (String, String, usize)>> {
    let text = output(command("readelf", &[Path::new("-SW"), obj]))?;
    let mut m = BTreeMap::new();
    for l in text.lines() {
        let l = l.trim_start();
        let Some(rest) = l.strip_prefix('[') else {
            continue;
        };
        let Some((num, rest)) = rest.split_once(']') else {
            continue;
        };
        let Ok(num) = num.trim().parse::<usize>() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        // Name Type Address Off Size ES [Flg] Lk Inf Al
        let info = f[f.len() - 2].parse().unwrap_or(0);
        m.insert(num, (f[0].to_string(), f[1].to_string(), info));
    }
    Ok(m)
}

/// Relocations: target section name (the part after `.rela`) -> symbol indices.
pub(super) fn read_relocs(obj: &Path) -> Result<Vec<(String, Vec<usize>)>> {
    let text = output(command("readelf", &[Path::new("-rW"), obj]))?;
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("Relocation section '") {
            let name = rest.split('\'').next().unwrap_or("");
            out.push((name.to_string(), Vec::new()));
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 3 && f[2].starts_with("R_X86_64_") {
            if let (Some(cur), Ok(info)) = (out.last_mut(), u64::from_str_radix(f[1], 16)) {
                cur.1.push((info >> 32) as usize);
            }
        }
    }
    Ok(out)
}

pub(super) fn is_panic_name(d: &str) -> bool {
    const PATS: [&str; 16] = [
        "core::panicking",
        "panic_fmt",
        "panic_bounds_check",
        "rust_begin_unwind",
        "panic_nounwind",
        "panic_const",
        "unwrap_failed",
        "expect_failed",
        "slice_start_index_len_fail",
        "slice_end_index_len_fail",
        "slice_index_order_fail",
        "str_index_overflow_fail",
        "assert_failed",
        "core::panic::",
        "panic_in_cleanup",
        "panic_misaligned",
    ];
    PATS.iter().any(|p| d.contains(p)) || d == "rs_xen_panic"
}

pub(super) fn is_float_name(d: &str) -> bool {
    const PRE: [&str; 17] = [
        "__add", "__sub", "__mul", "__div", "__neg", "__pow", "__cmp", "__eq", "__ne", "__lt",
        "__le", "__gt", "__ge", "__unord", "__fix", "__float", "__extend",
    ];
    const LIBM: [&str; 14] = [
        "sqrt", "sqrtf", "floor", "floorf", "ceil", "ceilf", "fmod", "fmodf", "fma", "fmaf", "pow",
        "powf", "exp", "log",
    ];
    let soft = (PRE.iter().any(|p| d.starts_with(p)) || d.starts_with("__trunc"))
        && ["sf", "df", "tf", "xf", "hf"].iter().any(|t| d.contains(t));
    soft || LIBM.contains(&d)
        || d.contains("core::fmt::float")
        || d.contains("flt2dec")
        || d.contains("dec2flt")
        || d.contains("<f64")
        || d.contains("<f32")
        || d.contains("core::f64")
        || d.contains("core::f32")
}

/// Short display of a demangled name (no crate hashes).
pub(super) fn pretty(d: &str) -> String {
    let mut s = String::new();
    let mut chars = d.chars();
    while let Some(c) = chars.next() {
        if c == '[' {
            for c2 in chars.by_ref() {
                if c2 == ']' {
                    break;
                }
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// Audits `obj` (the gc-linked object before renaming). Writes the report to
/// `report` and fails on any reachable panic or float path, any undefined
/// symbol Xen does not provide, or any SSE/x87 instruction.
pub(super) fn audit(obj: &Path, report: &Path) -> Result {
    let syms = read_symbols(obj)?;
    let secs = read_sections(obj)?;
    let relocs = read_relocs(obj)?;
    let allowed: BTreeSet<String> = services()?
        .into_iter()
        .chain(XEN_PROVIDES.iter().map(|s| s.to_string()))
        .collect();
    let entry_names: BTreeSet<String> = entries()?.into_iter().collect();

    // Graph: node = section index (defined code/data) or undefined symbol.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
    enum Node {
        Sec(usize),
        Und(String),
    }
    let name_to_sec: HashMap<&str, usize> =
        secs.iter().map(|(i, (n, _, _))| (n.as_str(), *i)).collect();
    let mut edges: BTreeMap<usize, BTreeSet<Node>> = BTreeMap::new();
    for (rela, targets) in &relocs {
        // `.rela<target>`; the section table's Inf field is authoritative.
        let src = name_to_sec
            .get(rela.as_str())
            .and_then(|i| secs.get(i))
            .map(|x| x.2)
            .or_else(|| {
                rela.strip_prefix(".rela")
                    .and_then(|t| name_to_sec.get(t).copied())
            });
        let Some(src) = src else { continue };
        let src_name = &secs.get(&src).map(|x| x.0.clone()).unwrap_or_default();
        if src_name.starts_with(".debug") {
            continue;
        }
        for &si in targets {
            let Some(s) = syms.get(si) else { continue };
            let node = match s.ndx {
                Some(n) => Node::Sec(n),
                None => Node::Und(s.name.clone()),
            };
            edges.entry(src).or_default().insert(node);
        }
    }
    // Functions / objects per section, for naming.
    let mut in_sec: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for s in &syms {
        if let Some(n) = s.ndx {
            if (s.kind == "FUNC" || s.kind == "OBJECT") && !s.name.is_empty() {
                in_sec.entry(n).or_default().push(pretty(&s.demangled));
            }
        }
    }
    let node_name = |n: &Node| -> String {
        match n {
            Node::Und(s) => format!("{} (undefined)", pretty(s)),
            Node::Sec(i) => in_sec
                .get(i)
                .and_then(|v| v.first().cloned())
                .unwrap_or_else(|| secs.get(i).map(|x| x.0.clone()).unwrap_or_default()),
        }
    };
    // BFS from the entry points.
    let mut parent: BTreeMap<Node, Option<Node>> = BTreeMap::new();
    let mut q = VecDeque::new();
    for s in syms.iter().filter(|s| entry_names.contains(&s.name)) {
        if let Some(n) = s.ndx {
            let node = Node::Sec(n);
            if !parent.contains_key(&node) {
                parent.insert(node.clone(), None);
                q.push_back(node);
            }
        }
    }
    let found_entries: BTreeSet<&String> = syms
        .iter()
        .filter(|s| s.ndx.is_some() && entry_names.contains(&s.name))
        .map(|s| &s.name)
        .collect();
    let missing_entries: Vec<&String> = entry_names
        .iter()
        .filter(|e| !found_entries.contains(e))
        .collect();
    while let Some(n) = q.pop_front() {
        if let Node::Sec(i) = n {
            for m in edges.get(&i).into_iter().flatten() {
                if !parent.contains_key(m) {
                    parent.insert(m.clone(), Some(n.clone()));
                    q.push_back(m.clone());
                }
            }
        }
    }
    let path_to = |n: &Node| -> String {
        let mut chain = vec![node_name(n)];
        let mut cur = n.clone();
        while let Some(Some(p)) = parent.get(&cur) {
            chain.push(node_name(p));
            cur = p.clone();
        }
        chain.reverse();
        chain.join("\n        -> ")
    };
    // Who references a node directly.
    let referrers = |n: &Node| -> Vec<String> {
        let mut v: Vec<String> = edges
            .iter()
            .filter(|(s, ts)| ts.contains(n) && parent.contains_key(&Node::Sec(**s)))
            .map(|(s, _)| node_name(&Node::Sec(*s)))
            .collect();
        v.sort();
        v.dedup();
        v
    };

    // Classify every reachable node.
    let mut undefined = Vec::new();
    let mut bad_und = Vec::new();
    let mut panics = Vec::new();
    let mut floats = Vec::new();
    for n in parent.keys() {
        let names: Vec<String> = match n {
            Node::Und(s) => vec![s.clone()],
            Node::Sec(i) => {
                let mut v: Vec<String> = syms
                    .iter()
                    .filter(|s| s.ndx == Some(*i) && !s.name.is_empty())
                    .map(|s| s.demangled.clone())
                    .collect();
                v.extend(secs.get(i).map(|x| x.0.clone()));
                v
            }
        };
        if let Node::Und(s) = n {
            undefined.push(s.clone());
            if !allowed.contains(s) {
                bad_und.push(n.clone());
            }
        }
        if names.iter().any(|d| is_panic_name(d)) {
            panics.push(n.clone());
        }
        if names.iter().any(|d| is_float_name(d)) {
            floats.push(n.clone());
        }
    }
    // SSE / x87 / MMX instructions in the code (Xen does not save that state).
    let dis = output(command(
        "objdump",
        &[Path::new("-d"), Path::new("--no-show-raw-insn"), obj],
    ))?;
    let mut fpu_insns = Vec::new();
    let mut cur_fn = String::new();
    for l in dis.lines() {
        if l.ends_with(">:") {
            cur_fn = l
                .split('<')
                .nth(1)
                .unwrap_or("")
                .trim_end_matches(">:")
                .to_string();
        } else if ["%xmm", "%ymm", "%zmm", "%st", "%mm"]
            .iter()
            .any(|r| l.contains(r))
        {
            fpu_insns.push(format!("{cur_fn}: {}", l.trim()));
        }
    }

    let text_bytes: u64 = {
        let size = output(command("size", &[obj])).unwrap_or_default();
        size.lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let nfuncs = syms
        .iter()
        .filter(|s| s.kind == "FUNC" && s.ndx.is_some())
        .count();
    let mut r = String::new();
    r.push_str(&format!(
        "Rust object audit: {}\n{} functions, {} bytes of text, {} reachable sections/symbols from {} entry points\n\n",
        obj.display(),
        nfuncs,
        text_bytes,
        parent.len(),
        found_entries.len()
    ));
    r.push_str("undefined symbols referenced:\n");
    for u in &undefined {
        let ok = allowed.contains(u);
        r.push_str(&format!(
            "  {u}{}\n",
            if ok { "" } else { "   <-- not provided by Xen" }
        ));
    }
    if !missing_entries.is_empty() {
        r.push_str(&format!(
            "\nentry points missing from the object: {missing_entries:?}\n"
        ));
    }
    let section = |title: &str, v: &[Node], r: &mut String| {
        r.push_str(&format!(
            "\n{title}: {}\n",
            if v.is_empty() { "none" } else { "" }
        ));
        for n in v {
            r.push_str(&format!("  {}\n", node_name(n)));
            for f in referrers(n) {
                r.push_str(&format!("      referenced by {f}\n"));
            }
            r.push_str(&format!("      path: {}\n", path_to(n)));
        }
    };
    section("reachable panic paths", &panics, &mut r);
    section("reachable float symbols", &floats, &mut r);
    section("undefined symbols Xen does not provide", &bad_und, &mut r);
    r.push_str(&format!(
        "\nSSE/x87/MMX instructions: {}\n",
        if fpu_insns.is_empty() {
            "none".to_string()
        } else {
            fpu_insns.len().to_string()
        }
    ));
    for l in fpu_insns.iter().take(50) {
        r.push_str(&format!("  {l}\n"));
    }
    fs::write(report, &r).map_err(|e| format!("{}: {e}", report.display()))?;

    let fail = !panics.is_empty()
        || !floats.is_empty()
        || !bad_und.is_empty()
        || !fpu_insns.is_empty()
        || !missing_entries.is_empty();
    // Short form on the terminal; the whole report is in the file.
    println!(
        "    {nfuncs} functions, {text_bytes} bytes of text; undefined: {}",
        undefined.join(" ")
    );
    println!(
        "    panic paths: {}, float symbols: {}, foreign undefined: {}, FPU instructions: {}, missing entries: {}",
        panics.len(),
        floats.len(),
        bad_und.len(),
        fpu_insns.len(),
        missing_entries.len()
    );
    if fail {
        let mut lines: Vec<&str> = r.lines().collect();
        lines.truncate(120);
        println!("{}", lines.join("\n"));
        return Err(format!("audit failed; report: {}", report.display()));
    }
    println!("    report: {}", report.display());
    Ok(())
}

/// After the final link: the entry points are in xen-syms and nothing there
/// is a Rust panic path.
pub(super) fn check_xen_syms(syms: &Path) -> Result {
    let text = output(command("nm", &[syms]))?;
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let missing: Vec<String> = entries()?
        .into_iter()
        .filter(|e| !names.contains(&e.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!("xen-syms lacks {missing:?}"));
    }
    let bad: Vec<&&str> = names
        .iter()
        .filter(|n| {
            n.starts_with("rs.") && (n.contains("panicking") || n.contains("unwrap_failed"))
        })
        .collect();
    if !bad.is_empty() {
        return Err(format!("xen-syms holds Rust panic code: {bad:?}"));
    }
    let long = names.iter().filter(|n| n.len() >= 128).count();
    let rust = names.iter().filter(|n| n.starts_with("rs.")).count();
    println!(
        "    xen-syms: {} rs_sched_* entries, {rust} Rust symbols, {long} names >= 128 bytes",
        entries()?.len()
    );
    if long > 0 {
        return Err(format!(
            "{long} symbol names of 128 bytes or more in xen-syms (Xen's %ps buffer)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// xen-build, xen-audit

/// `cargo xtask xen-audit [OBJ]`: the Rust stages only (no Xen tree).
pub fn xen_audit(args: &[String]) -> Result {
    let (vals, flags, rest) = parse_opts(args, &["--glue-manifest"], &[])?;
    let _ = flags;
    let mut o = build_opts(&[])?;
    if let Some(p) = rest.first() {
        o.rust_obj = Some(fs::canonicalize(p).map_err(|e| format!("{p}: {e}"))?);
    }
    if let Some(m) = vals.get("--glue-manifest") {
        o.glue_manifest = Some(fs::canonicalize(m).map_err(|e| format!("{m}: {e}"))?);
    }
    require(&[
        ("ld", "binutils"),
        ("objcopy", "binutils"),
        ("readelf", "binutils"),
        ("objdump", "binutils"),
    ])?;
    let logs = xen_dir().join("logs");
    mkdirs(&logs)?;
    let _ = fs::remove_file(logs.join("rust.log"));
    let mut st = Stages::new();
    let r = rust_stages(&mut st, &o, &logs);
    st.summary("xen-audit");
    r.map(|obj| println!("\nlinked object: {}", obj.display()))
}

// ---------------------------------------------------------------------------
// xen-smoke
