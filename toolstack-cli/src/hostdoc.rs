//! A host file as a TOML document: the part of a change that touches no
//! file (`host.rs` does the locking and the writing). An edit works on the
//! document, so the admin's comments and layout are kept, and its result
//! is validated whole by the simulator's own parser before anything is
//! written.

use sched_sim::Scenario;
use toml_edit::DocumentMut;

use crate::Failure;

/// Applies `edit` to the host file `text` (which parsed as `before`; `shown`
/// names it in errors): the new text, or `None` when the edit changed
/// nothing, and the scenario it now describes. A result that does not parse
/// as a valid scenario is refused.
pub fn edit(
    before: &Scenario,
    text: &str,
    shown: &str,
    edit: impl FnOnce(&Scenario, &mut DocumentMut) -> Result<(), Failure>,
) -> Result<(Option<String>, Scenario), Failure> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Failure::BadInput(format!("{shown}: {e}")))?;
    normalise(&mut doc);
    let unedited = doc.to_string();
    edit(before, &mut doc)?;
    let new_text = doc.to_string();
    let after = Scenario::parse(&new_text, shown)
        .map_err(|e| Failure::BadInput(format!("change refused, host file unchanged: {e}")))?;
    Ok(((new_text != unedited).then_some(new_text), after))
}

/// Gives the document the one shape the edits work on: an inline array of
/// domains (or changes) becomes `[[domain]]` (`[[change]]`) tables, and an
/// inline `host`/`pool` table a `[host]`/`[pool]` table. Everything else,
/// comments included, is kept.
pub fn normalise(doc: &mut DocumentMut) {
    use toml_edit::Item;
    for key in ["domain", "change", "host", "pool"] {
        let Some(item) = doc.get_mut(key).filter(|i| i.is_value()) else {
            continue;
        };
        let v = std::mem::take(item);
        *item = match key {
            "domain" | "change" => v.into_array_of_tables().map(Item::ArrayOfTables),
            _ => v.into_table().map(Item::Table),
        }
        .unwrap_or_else(|v| v);
        if !item.is_value() {
            // `key = ` spacing would show in the header as `[key ]`.
            if let Some(mut k) = doc.key_mut(key) {
                k.fmt();
            }
        }
    }
}

/// The table of `[[domain]]` number `i` in the document (inside `change`,
/// so an inline array of domains has been made tables by `normalise`).
pub fn domain_table(doc: &mut DocumentMut, i: usize) -> Result<&mut toml_edit::Table, Failure> {
    doc.get_mut("domain")
        .and_then(|d| d.as_array_of_tables_mut())
        .and_then(|a| a.get_mut(i))
        .ok_or_else(|| Failure::Internal(format!("domain {i} not found in the document")))
}

/// The `[pool]` table, created if absent.
pub fn pool_table(doc: &mut DocumentMut) -> Result<&mut toml_edit::Table, Failure> {
    let item = doc
        .entry("pool")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    item.as_table_mut()
        .ok_or_else(|| Failure::BadInput("pool: must be a table".into()))
}
