//! The life of a case at each kind of node: one transition table ([`table`]), commands,
//! events, deadlines, confidentiality with an expiry, notification, holds, and the
//! commitments that the log holds ([`commitment`]).
//!
//! Invariants: pure (no I/O, no clock, no randomness: time and salts are parameters); a
//! case changes only by applying events, so replaying its events rebuilds it exactly;
//! every command is checked against the table (state, role) and its rules (reasons,
//! dates, holds of at least 60 days, the authorization the policy asks for), and a
//! refused command changes nothing.
#![forbid(unsafe_code)]

pub mod command;
pub mod commitment;
pub mod engine;
pub mod event;
pub mod model;
pub mod table;
pub mod time;

pub use command::{Action, Command, CommandKind, Ruling};
pub use engine::{CommandError, ReplayError, apply, decide};
pub use event::{Event, EventBody};
pub use model::{Case, Notification, PackageRef, Role, Secrecy, Side, State};
pub use time::Timestamp;
