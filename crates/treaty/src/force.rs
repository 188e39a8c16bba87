//! Entry into force: when an instrument binds a State (UNCC 65; ETS 185 art. 36-37;
//! CETS 224 art. 16). Pure functions of the deposits and the date asked about.

use crate::date::Date;
use crate::instrument::Instrument;
use crate::profile::Deposits;

/// UNCC 65(1): in force on the 90th day after the 40th deposit.
pub const UNCC_DEPOSITS_NEEDED: usize = 40;
/// UNCC 65(1): days from the 40th deposit to entry into force.
pub const UNCC_DAYS_AFTER_THRESHOLD: i64 = 90;
/// UNCC 65(2): a later State is bound on the 30th day after its own deposit.
pub const UNCC_DAYS_AFTER_LATE_DEPOSIT: i64 = 30;
/// CETS 224 art. 16: in force once five Parties have deposited.
pub const P2_DEPOSITS_NEEDED: usize = 5;

/// ETS 185 has been in force since 1 July 2004 (day 12,600 after 1970-01-01).
pub const BUDAPEST_IN_FORCE: Date = Date::from_days_since_epoch(12_600);

/// When an instrument as a whole is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryIntoForce {
    /// In force from this date (stated in the case file, fixed, or computed).
    On(Date),
    /// Not in force: too few deposits are listed.
    NotInForce {
        /// Deposits listed.
        deposits: usize,
        /// Deposits needed.
        needed: usize,
    },
}

/// The general entry into force of `instrument`: the `stated` date where the case file
/// gives one, else computed from every listed deposit of that instrument.
pub fn entry_into_force(
    instrument: Instrument,
    stated: Option<Date>,
    deposits: impl IntoIterator<Item = Date>,
) -> EntryIntoForce {
    if let Some(e) = stated {
        return EntryIntoForce::On(e);
    }
    let threshold = |needed: usize| {
        let mut all: Vec<Date> = deposits.into_iter().collect();
        if all.len() < needed {
            return Err(EntryIntoForce::NotInForce { deposits: all.len(), needed });
        }
        all.sort_unstable();
        Ok(all[needed - 1])
    };
    match instrument {
        Instrument::Budapest => EntryIntoForce::On(BUDAPEST_IN_FORCE),
        Instrument::Uncc => match threshold(UNCC_DEPOSITS_NEEDED) {
            Ok(fortieth) => EntryIntoForce::On(fortieth.add_days(UNCC_DAYS_AFTER_THRESHOLD)),
            Err(e) => e,
        },
        Instrument::BudapestP2 => match threshold(P2_DEPOSITS_NEEDED) {
            Ok(fifth) => EntryIntoForce::On(fifth.first_of_month_after_three_months()),
            Err(e) => e,
        },
    }
}

/// Why a State is not bound on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotBound {
    /// The State has deposited no instrument.
    NoDeposit,
    /// The instrument itself is not in force.
    NotInForce {
        /// Deposits listed.
        deposits: usize,
        /// Deposits needed.
        needed: usize,
    },
    /// The State will be bound from this later date.
    NotYet {
        /// First day on which the State is bound.
        from: Date,
    },
}

/// Whether a State is bound by an instrument on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Bound since this date (inclusive).
    Bound {
        /// First day on which the State was bound.
        since: Date,
    },
    /// Not bound by the instrument itself.
    NotBound(NotBound),
    /// Bound by CETS 224 in its own terms, but not by ETS 185, which it supplements.
    NotBoundByBudapest(NotBound),
}

impl Binding {
    /// Whether the State is bound.
    pub const fn is_bound(self) -> bool {
        matches!(self, Binding::Bound { .. })
    }
}

/// The first day on which a State that deposited on `deposit` is bound, given the
/// instrument's general entry into force `general`.
pub fn bound_from(instrument: Instrument, general: Date, deposit: Date) -> Date {
    let own = match instrument {
        // UNCC 65(2): the 30th day after a later deposit; a State among the first forty
        // deposits (deposit + 30 <= entry into force) is bound from entry into force.
        Instrument::Uncc => deposit.add_days(UNCC_DAYS_AFTER_LATE_DEPOSIT),
        // ETS 185 art. 36(4)/37(2), CETS 224 art. 16(4): the first day of the month
        // following three months after the deposit.
        Instrument::Budapest | Instrument::BudapestP2 => deposit.first_of_month_after_three_months(),
    };
    own.max(general)
}

fn own_binding(
    instrument: Instrument,
    general: EntryIntoForce,
    deposits: &Deposits,
    on: Date,
) -> Result<Date, NotBound> {
    let deposit = deposits.get(instrument).ok_or(NotBound::NoDeposit)?;
    let general = match general {
        EntryIntoForce::On(d) => d,
        EntryIntoForce::NotInForce { deposits, needed } => {
            return Err(NotBound::NotInForce { deposits, needed });
        }
    };
    let from = bound_from(instrument, general, deposit);
    if on >= from { Ok(from) } else { Err(NotBound::NotYet { from }) }
}

/// Whether a State with `deposits` is bound by `instrument` on `on`, given each
/// instrument's general entry into force (indexed by [`Instrument::index`]).
pub fn binding(instrument: Instrument, general: &[EntryIntoForce; 3], deposits: &Deposits, on: Date) -> Binding {
    let own = match own_binding(instrument, general[instrument.index()], deposits, on) {
        Ok(since) => since,
        Err(why) => return Binding::NotBound(why),
    };
    if instrument != Instrument::BudapestP2 {
        return Binding::Bound { since: own };
    }
    match own_binding(Instrument::Budapest, general[Instrument::Budapest.index()], deposits, on) {
        Ok(base) => Binding::Bound { since: own.max(base) },
        Err(why) => Binding::NotBoundByBudapest(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn deps(pairs: &[(Instrument, &str)]) -> Deposits {
        let mut x = Deposits::default();
        for (i, s) in pairs {
            x.set(*i, d(s));
        }
        x
    }

    #[test]
    fn budapest_in_force_is_1_july_2004() {
        assert_eq!(BUDAPEST_IN_FORCE, d("2004-07-01"));
    }

    #[test]
    fn uncc_stated_entry_into_force() {
        let general = [
            EntryIntoForce::On(d("2026-09-01")),
            EntryIntoForce::On(BUDAPEST_IN_FORCE),
            EntryIntoForce::NotInForce { deposits: 0, needed: 5 },
        ];
        let early = deps(&[(Instrument::Uncc, "2026-01-15")]);
        assert_eq!(
            binding(Instrument::Uncc, &general, &early, d("2026-08-31")),
            Binding::NotBound(NotBound::NotYet { from: d("2026-09-01") })
        );
        assert_eq!(
            binding(Instrument::Uncc, &general, &early, d("2026-09-01")),
            Binding::Bound { since: d("2026-09-01") }
        );
        let late = deps(&[(Instrument::Uncc, "2026-10-20")]);
        assert_eq!(
            binding(Instrument::Uncc, &general, &late, d("2026-11-18")),
            Binding::NotBound(NotBound::NotYet { from: d("2026-11-19") })
        );
        assert!(binding(Instrument::Uncc, &general, &late, d("2026-11-19")).is_bound());
        assert_eq!(
            binding(Instrument::Uncc, &general, &Deposits::default(), d("2030-01-01")),
            Binding::NotBound(NotBound::NoDeposit)
        );
    }

    #[test]
    fn uncc_computed_from_fortieth_deposit() {
        let base = d("2025-01-01");
        let deposits: Vec<Date> = (0..40).map(|i| base.add_days(i)).collect();
        assert_eq!(
            entry_into_force(Instrument::Uncc, None, deposits[..39].iter().copied()),
            EntryIntoForce::NotInForce { deposits: 39, needed: 40 }
        );
        // Order of the listed deposits does not matter.
        let mut shuffled = deposits.clone();
        shuffled.reverse();
        assert_eq!(
            entry_into_force(Instrument::Uncc, None, shuffled),
            EntryIntoForce::On(d("2025-02-09").add_days(90))
        );
    }

    #[test]
    fn budapest_three_month_rule_and_protocol() {
        let general = [
            EntryIntoForce::NotInForce { deposits: 0, needed: 40 },
            EntryIntoForce::On(BUDAPEST_IN_FORCE),
            EntryIntoForce::On(d("2025-04-01")),
        ];
        let s = deps(&[(Instrument::Budapest, "2026-08-14"), (Instrument::BudapestP2, "2026-08-14")]);
        assert_eq!(
            binding(Instrument::Budapest, &general, &s, d("2026-11-30")),
            Binding::NotBound(NotBound::NotYet { from: d("2026-12-01") })
        );
        assert!(binding(Instrument::Budapest, &general, &s, d("2026-12-01")).is_bound());
        assert!(binding(Instrument::BudapestP2, &general, &s, d("2026-12-01")).is_bound());
        let p2_only = deps(&[(Instrument::BudapestP2, "2024-01-10")]);
        assert_eq!(
            binding(Instrument::BudapestP2, &general, &p2_only, d("2026-12-01")),
            Binding::NotBoundByBudapest(NotBound::NoDeposit)
        );
        let five: Vec<Date> = ["2023-03-01", "2022-12-31", "2024-02-10", "2023-07-07", "2024-05-02", "2025-01-01"]
            .iter()
            .map(|s| d(s))
            .collect();
        assert_eq!(entry_into_force(Instrument::BudapestP2, None, five), EntryIntoForce::On(d("2024-09-01")));
        // Budapest before 2004-07-01: a deposit in 2003 binds from the Convention's entry into force.
        assert_eq!(bound_from(Instrument::Budapest, BUDAPEST_IN_FORCE, d("2003-01-10")), d("2004-07-01"));
    }
}
