//! The vocabulary of a case's life: sides, roles, states, and the case itself.

use serde::{Deserialize, Serialize};
use treaty::Date;

use crate::time::Timestamp;

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $id:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The identifier used in events, the API and the docs.
            pub const fn id(self) -> &'static str {
                match self { $($name::$variant => $id),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.id())
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// Which kind of node holds the case.
    Side {
        /// The requesting State's node (case worker, judge, central authority or 24/7 point of contact).
        Requesting = "requesting",
        /// The requested State's central authority.
        Requested = "requested",
        /// The service provider that executes.
        Provider = "provider",
    }
}

named_enum! {
    /// Who acts. `peer` is a verified message from the counterpart node; `clock` is time passing.
    Role {
        /// A police officer or prosecutor drafting requests.
        CaseWorker = "case_worker",
        /// A judge (authorizations, objections, reviews, extensions, postponements).
        Judge = "judge",
        /// A central authority officer (UNCC 40(13)).
        CentralAuthority = "central_authority",
        /// The 24/7 point of contact (UNCC 41).
        PointOfContact = "point_of_contact",
        /// A provider's legal team.
        ProviderLegal = "provider_legal",
        /// An oversight body (reads, never acts on a case).
        Oversight = "oversight",
        /// A node administrator (never acts on a case).
        Administrator = "administrator",
        /// The counterpart node, by a signed and verified message.
        Peer = "peer",
        /// Time passing: deadlines, expiries.
        Clock = "clock",
    }
}

named_enum! {
    /// Where a case stands. Which states a side uses is in the transition table.
    State {
        /// Being written (requesting side).
        Draft = "draft",
        /// Before a judge for authorization (requesting side).
        AwaitingAuthorization = "awaiting_authorization",
        /// Authorized by a judge, ready to send (requesting side).
        Authorized = "authorized",
        /// Sent, not yet acknowledged (requesting side).
        Sent = "sent",
        /// Acknowledged by the requested State, awaiting its answer (requesting side).
        Acknowledged = "acknowledged",
        /// Received, awaiting a decision (requested side, provider).
        Received = "received",
        /// Lacks what it must state; to be answered and resent.
        Incomplete = "incomplete",
        /// The States consult before a refusal or postponement (UNCC 40(27)).
        Consultation = "consultation",
        /// Before a judge or independent reviewer (requested side).
        InReview = "in_review",
        /// Postponed, with a reason, until a date (UNCC 40(26)).
        Postponed = "postponed",
        /// Admitted for execution.
        Admitted = "admitted",
        /// Routed to a provider (requested side).
        Routed = "routed",
        /// The provider objected; a judge decides.
        Objected = "objected",
        /// The provider must act (acknowledged, or the objection was dismissed or narrowed).
        InExecution = "in_execution",
        /// Data preserved under a hold until a date.
        Preserved = "preserved",
        /// An evidence package was produced (provider).
        Produced = "produced",
        /// An evidence package was received.
        EvidenceReceived = "evidence_received",
        /// The evidence or the request went back to the requesting State (requested side).
        Returned = "returned",
        /// Refused, with reasons (UNCC 40(24)).
        Refused = "refused",
        /// Closed.
        Closed = "closed",
    }
}

/// The confidentiality order of a case: secrecy always has an expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Secrecy {
    /// No confidentiality order.
    None,
    /// Confidential until the end of `until`.
    Secret {
        /// The order's expiry.
        until: Date,
        /// Whether the request asked for indefinite secrecy (capped at the maximum until
        /// the consultation sets an expiry).
        indefinite_asked: bool,
    },
    /// The order expired: what was committed must be revealed.
    RevealDue {
        /// The expiry that passed.
        since: Date,
    },
    /// Revealed.
    Revealed {
        /// When.
        at: Timestamp,
    },
}

/// Notification of the person concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Notification {
    /// Not due yet.
    NotDue,
    /// Due since this instant.
    Due {
        /// Since when.
        since: Timestamp,
    },
    /// Postponed by a judge, with a reason, until a date.
    Postponed {
        /// Until when.
        until: Date,
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// The person was notified.
    Notified {
        /// When.
        at: Timestamp,
    },
}

/// A preservation hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The last day the data is held (never under 60 days from placement).
    pub until: Date,
}

/// The deadline of a waiting state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The state that is waiting.
    pub state: State,
    /// When an answer is due.
    pub due: Timestamp,
    /// The period that was given, in seconds (escalation comes one more period later).
    pub period: i64,
    /// A reminder was sent when it passed.
    pub reminded: bool,
    /// It was escalated one more period later.
    pub escalated: bool,
}

/// A reference to a sealed evidence package (seal crate): its manifest's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRef {
    /// SHA-256 of the signed manifest, hex.
    pub manifest_sha256: String,
    /// Number of files.
    pub files: u32,
    /// Total plaintext bytes.
    pub bytes: u64,
}

/// One case at one node: the fold of its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The case's identifier at this node.
    pub id: String,
    /// Which kind of node holds it.
    pub side: Side,
    /// Where it stands.
    pub state: State,
    /// SHA-256 (hex) of the case file (profiles + request) it was created from.
    pub case_file_sha256: String,
    /// The case file itself (private: never in a committed event).
    pub case_file: std::sync::Arc<str>,
    /// Made through the 24/7 channel as an emergency: shorter deadlines.
    pub emergency: bool,
    /// The policy asked for a judicial authorization (requesting side) or the request
    /// carried one that the policy required (requested side, provider).
    pub needs_authorization: bool,
    /// The judicial authorization, once given (reference).
    pub authorization: Option<String>,
    /// The confidentiality order.
    pub secrecy: Secrecy,
    /// Notification of the person concerned.
    pub notification: Notification,
    /// The preservation hold, if any.
    pub hold: Option<Hold>,
    /// The deadline of the current waiting state, if any.
    pub deadline: Option<Deadline>,
    /// The provider the request was routed to (requested side).
    pub provider: Option<String>,
    /// Evidence packages produced or received.
    pub evidence: Vec<PackageRef>,
    /// When the postponement ends, in state `postponed`.
    pub postponed_until: Option<Date>,
    /// Events applied so far (the next event's sequence number is this plus one).
    pub events: u64,
    /// When the case was created.
    pub created_at: Timestamp,
    /// When the last event happened.
    pub updated_at: Timestamp,
}
