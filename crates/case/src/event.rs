//! Events: the facts of a case, in order. A case is the fold of its events; an event's
//! exact bytes (`Event::to_bytes`) are what the log commits to. Events hold metadata
//! only: the request's contents (the case file) are referred to by hash.

use serde::{Deserialize, Serialize};
use treaty::{Date, Instrument, Measure, StateCode};

use crate::command::{Action, Ruling};
use crate::model::{PackageRef, Role, Secrecy, Side, State};
use crate::time::Timestamp;

/// A ground of the policy decision, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundRef {
    /// The rule's code.
    pub code: String,
    /// The article cited.
    pub article: String,
    /// For `missing`: the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `not_party`: the State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// A condition of the policy decision, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionRef {
    /// The condition's code.
    pub code: String,
    /// The article cited.
    pub article: String,
    /// Its date, if dated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// The case was opened.
    Created {
        /// Which kind of node holds it.
        side: Side,
        /// SHA-256 of the case file, hex.
        case_file_sha256: String,
        /// The instrument invoked.
        instrument: Instrument,
        /// The measure asked.
        measure: Measure,
        /// The requesting State.
        requesting_state: StateCode,
        /// The requested State.
        requested_state: StateCode,
        /// Through the 24/7 channel as an emergency.
        emergency: bool,
        /// Whether a judicial authorization is needed.
        needs_authorization: bool,
        /// The authorization the request already carries (requested side, provider).
        authorization: Option<String>,
        /// The confidentiality order at opening.
        secrecy: Secrecy,
    },
    /// Put before a judge.
    SubmittedForAuthorization,
    /// A judge authorized.
    Authorized {
        /// The order's reference.
        reference: String,
        /// Reasons.
        reasons: Vec<String>,
    },
    /// A judge refused to authorize.
    AuthorizationRefused {
        /// Reasons.
        reasons: Vec<String>,
    },
    /// Sent to the requested State.
    Sent,
    /// The requested State acknowledged.
    Acknowledged,
    /// The requested State's answer.
    AnswerRecorded {
        /// Its action.
        action: Action,
        /// Its reasons.
        reasons: Vec<String>,
        /// Postponed until.
        until: Option<Date>,
    },
    /// Answered and sent again.
    Resent,
    /// The central authority decided, with the policy's decision.
    Decided {
        /// The action.
        action: Action,
        /// The policy's outcome.
        outcome: policy::Outcome,
        /// The policy's grounds.
        grounds: Vec<GroundRef>,
        /// The policy's conditions.
        conditions: Vec<ConditionRef>,
        /// The officer's reasons (for a refusal, the grounds' sentences come first).
        reasons: Vec<String>,
        /// Postponed until.
        until: Option<Date>,
    },
    /// The consultation ended.
    ConsultationConcluded {
        /// The action.
        action: Action,
        /// Reasons.
        reasons: Vec<String>,
        /// Postponed until.
        until: Option<Date>,
    },
    /// The reviewing judge decided.
    ReviewDecided {
        /// Admit or refuse.
        action: Action,
        /// Reasons.
        reasons: Vec<String>,
    },
    /// A postponement ended.
    Resumed,
    /// Routed to a provider.
    Routed {
        /// The provider.
        provider: String,
    },
    /// The provider accepted to act.
    ProviderAcknowledged,
    /// The provider objected.
    Objected {
        /// Its grounds.
        grounds: Vec<String>,
    },
    /// A judge ruled on the objection.
    ObjectionDecided {
        /// The ruling.
        ruling: Ruling,
        /// Reasons.
        reasons: Vec<String>,
    },
    /// Data preserved until a date.
    HoldPlaced {
        /// Last day.
        until: Date,
    },
    /// Hold extended.
    HoldExtended {
        /// New last day.
        until: Date,
        /// Why.
        reasons: Vec<String>,
    },
    /// The hold expired: the data is released.
    HoldExpired {
        /// The last day that passed.
        until: Date,
    },
    /// A sealed evidence package was produced.
    Produced {
        /// The package.
        package: PackageRef,
    },
    /// A sealed evidence package was received and verified.
    EvidenceReceived {
        /// The package.
        package: PackageRef,
    },
    /// Sent back to the requesting State.
    Returned,
    /// Closed.
    Closed {
        /// Why.
        reasons: Vec<String>,
    },
    /// Withdrawn by the requesting side.
    Withdrawn {
        /// Why.
        reasons: Vec<String>,
    },
    /// A confidentiality order was set (from the decision's conditions or a consultation).
    ConfidentialitySet {
        /// Its expiry.
        until: Date,
    },
    /// A judge extended the confidentiality order.
    ConfidentialityExtended {
        /// The new expiry.
        until: Date,
        /// Reasons.
        reasons: Vec<String>,
    },
    /// The order expired: what was committed must be revealed.
    RevealDue {
        /// The expiry that passed.
        since: Date,
    },
    /// What was committed was revealed.
    Revealed,
    /// Notification of the person concerned is due.
    NotificationDue,
    /// A judge postponed notification.
    NotificationPostponed {
        /// Until when.
        until: Date,
        /// Reasons.
        reasons: Vec<String>,
    },
    /// The person concerned was notified.
    Notified,
    /// A deadline passed: reminder.
    Reminder {
        /// The waiting state.
        state: State,
        /// The deadline.
        due: Timestamp,
    },
    /// A deadline passed long ago: escalation.
    Escalated {
        /// The waiting state.
        state: State,
        /// The deadline.
        due: Timestamp,
    },
}

/// One event of one case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The case's identifier at this node.
    pub case: String,
    /// 1 for the first event, then one more each time.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// Who did it.
    pub actor: Role,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The event's kind (`created`, `decided`, ...).
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }

    /// The exact bytes that are stored, committed to in the log, and revealed: compact
    /// JSON with fields in declaration order.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an event from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl EventBody {
    /// The kind, as in the serialized `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Created { .. } => "created",
            EventBody::SubmittedForAuthorization => "submitted_for_authorization",
            EventBody::Authorized { .. } => "authorized",
            EventBody::AuthorizationRefused { .. } => "authorization_refused",
            EventBody::Sent => "sent",
            EventBody::Acknowledged => "acknowledged",
            EventBody::AnswerRecorded { .. } => "answer_recorded",
            EventBody::Resent => "resent",
            EventBody::Decided { .. } => "decided",
            EventBody::ConsultationConcluded { .. } => "consultation_concluded",
            EventBody::ReviewDecided { .. } => "review_decided",
            EventBody::Resumed => "resumed",
            EventBody::Routed { .. } => "routed",
            EventBody::ProviderAcknowledged => "provider_acknowledged",
            EventBody::Objected { .. } => "objected",
            EventBody::ObjectionDecided { .. } => "objection_decided",
            EventBody::HoldPlaced { .. } => "hold_placed",
            EventBody::HoldExtended { .. } => "hold_extended",
            EventBody::HoldExpired { .. } => "hold_expired",
            EventBody::Produced { .. } => "produced",
            EventBody::EvidenceReceived { .. } => "evidence_received",
            EventBody::Returned => "returned",
            EventBody::Closed { .. } => "closed",
            EventBody::Withdrawn { .. } => "withdrawn",
            EventBody::ConfidentialitySet { .. } => "confidentiality_set",
            EventBody::ConfidentialityExtended { .. } => "confidentiality_extended",
            EventBody::RevealDue { .. } => "reveal_due",
            EventBody::Revealed => "revealed",
            EventBody::NotificationDue => "notification_due",
            EventBody::NotificationPostponed { .. } => "notification_postponed",
            EventBody::Notified => "notified",
            EventBody::Reminder { .. } => "reminder",
            EventBody::Escalated { .. } => "escalated",
        }
    }
}
