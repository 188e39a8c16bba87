//! The treaties as data: instruments and their articles, States, legal profiles with
//! their defaults, deposits and entry into force, and the conduct vocabulary.
//!
//! Invariant: pure. No I/O, no clock, no randomness; every date is a parameter.
#![forbid(unsafe_code)]

pub mod articles;
pub mod conduct;
pub mod date;
pub mod force;
pub mod instrument;
pub mod profile;
pub mod state;

pub use articles::{Article, Citation, Cite};
pub use conduct::{Conduct, ConductClass, ConductSet};
pub use date::{Date, DateError};
pub use force::{Binding, EntryIntoForce, NotBound};
pub use instrument::{Category, CategorySet, Instrument, Measure};
pub use profile::{Deposits, DualCriminality, Profile, Safeguards};
pub use state::StateCode;
