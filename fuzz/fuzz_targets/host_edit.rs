//! The host-file edit path of `vsched` (`toolstack_cli::hostdoc`), with no
//! files: three bytes choose an edit, the rest is the host file. On a file
//! the simulator accepts, checks what an admin relies on:
//! - making the document one shape (`normalise`) keeps its meaning and is
//!   idempotent, and an edit that changes nothing writes nothing;
//! - every domain the scenario has is found in the document;
//! - setting a domain's weight, cap or microslice, a pool timeslice, or
//!   destroying a domain, changes exactly that, or is refused with an error
//!   (never a panic, never an internal error).
#![no_main]

use sched_sim::{Scenario, Span};
use toml_edit::{value, DocumentMut};
use toolstack_cli::{hostdoc, Failure};

const NAME: &str = "host.toml";

fn internal(f: &Failure) -> bool {
    matches!(f, Failure::Internal(_))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((op, rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(before) = Scenario::parse(text, NAME) else {
        return;
    };
    // One shape, same meaning, and once is enough.
    let mut doc: DocumentMut = text.parse().expect("an accepted host file is TOML");
    hostdoc::normalise(&mut doc);
    let once = doc.to_string();
    let again = Scenario::parse(&once, NAME).expect("normalised, it still parses");
    assert_eq!(again, before, "normalise changed the meaning:\n{once}");
    hostdoc::normalise(&mut doc);
    assert_eq!(doc.to_string(), once, "normalise is not idempotent");
    for i in 0..before.domains.len() {
        assert!(
            hostdoc::domain_table(&mut doc, i).is_ok(),
            "domain {i} of the scenario is not in the document:\n{once}"
        );
    }
    // An edit that changes nothing writes nothing.
    let (new, after) = hostdoc::edit(&before, text, NAME, |_, _| Ok(())).expect("a no-op edit");
    assert!(new.is_none() || new.as_deref() == Some(once.as_str()));
    assert_eq!(after, before);

    let n = before.domains.len();
    let i = usize::from(op[1]) % n.max(1);
    let arg = u16::from_le_bytes([op[2], op[0] >> 3]);
    let mut want = before.clone();
    let result = match op[0] % 5 {
        0 if n > 0 => {
            let w = arg.max(1);
            want.domains[i].weight = w;
            hostdoc::edit(&before, text, NAME, |_, doc| {
                hostdoc::domain_table(doc, i)?["weight"] = value(i64::from(w));
                Ok(())
            })
        }
        1 if n > 0 => {
            let cap = arg % (100 * before.domains[i].vcpus + 1);
            want.domains[i].cap = cap;
            hostdoc::edit(&before, text, NAME, |_, doc| {
                hostdoc::domain_table(doc, i)?["cap"] = value(i64::from(cap));
                Ok(())
            })
        }
        2 if n > 0 => {
            let us = i64::from(arg);
            want.domains[i].microslice = Some(Span::us(us));
            hostdoc::edit(&before, text, NAME, |_, doc| {
                hostdoc::domain_table(doc, i)?["microslice"] = value(format!("{us}us"));
                Ok(())
            })
        }
        3 => {
            let ms = i64::from(arg);
            want.pool.tslice = Some(Span::ms(ms));
            hostdoc::edit(&before, text, NAME, |_, doc| {
                hostdoc::pool_table(doc)?["tslice"] = value(format!("{ms}ms"));
                Ok(())
            })
        }
        4 if n > 0 => {
            want.domains.remove(i);
            hostdoc::edit(&before, text, NAME, |_, doc| {
                let d = doc["domain"].as_array_of_tables_mut().expect("normalised");
                d.remove(i);
                Ok(())
            })
        }
        _ => return,
    };
    match result {
        Ok((_, after)) => assert_eq!(after, want, "the edit changed something else"),
        Err(f) => assert!(!internal(&f), "{f:?}"),
    }
});
