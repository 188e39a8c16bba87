//! What people (and peers, and the clock) ask of a case.

use serde::{Deserialize, Serialize};
use treaty::Date;

use crate::model::{PackageRef, Side, named_enum};

named_enum! {
    /// What a central authority (or a reviewing judge) decides, and what the requesting
    /// side records as the answer.
    Action {
        /// Admit for execution.
        Admit = "admit",
        /// Send back as incomplete, to be answered and resent.
        ReturnIncomplete = "return_incomplete",
        /// Consult the requesting State first (UNCC 40(27)).
        Consult = "consult",
        /// Put before a judge or independent reviewer.
        Review = "review",
        /// Postpone, with a reason, until a date (UNCC 40(26)).
        Postpone = "postpone",
        /// Refuse, with reasons (UNCC 40(21), 40(24)).
        Refuse = "refuse",
    }
}

named_enum! {
    /// A judge's ruling on a provider's objection.
    Ruling {
        /// The objection stands: the request goes back with reasons.
        Upheld = "upheld",
        /// The objection fails: the provider must act.
        Dismissed = "dismissed",
        /// The request is narrowed: the provider acts on what remains.
        Narrowed = "narrowed",
    }
}

/// A command, with what it carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Open a case from a case file (profiles + request).
    Create {
        /// The case's identifier at this node.
        id: String,
        /// Which kind of node this is.
        side: Side,
        /// The case file, as JSON (case.schema.json).
        case_file: String,
        /// An emergency through the 24/7 channel.
        emergency: bool,
    },
    /// Put the draft before a judge.
    SubmitForAuthorization,
    /// A judge authorizes the request.
    Authorize {
        /// The order's reference.
        reference: String,
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// A judge refuses to authorize.
    RefuseAuthorization {
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// Send the request to the requested State.
    Send,
    /// The requested State acknowledged receipt.
    Acknowledge,
    /// The requested State's answer arrived.
    RecordAnswer {
        /// What it decided.
        action: Action,
        /// Its reasons.
        reasons: Vec<String>,
        /// For a postponement: until when.
        until: Option<Date>,
        /// The confidentiality expiry it agreed to, if any.
        confidential_until: Option<Date>,
    },
    /// Answer what was missing and send again.
    Resend {
        /// What was added.
        answer: String,
    },
    /// The central authority decides an incoming request; the policy is evaluated now
    /// and the action must agree with it.
    Decide {
        /// The action taken.
        action: Action,
        /// The officer's reasons (added to the policy's grounds).
        reasons: Vec<String>,
        /// For a postponement: until when.
        until: Option<Date>,
    },
    /// The consultation ends (UNCC 40(27)).
    ConcludeConsultation {
        /// Admit, postpone or refuse.
        action: Action,
        /// Reasons.
        reasons: Vec<String>,
        /// The agreed confidentiality expiry, if secrecy was asked.
        confidential_until: Option<Date>,
        /// For a postponement: until when.
        until: Option<Date>,
    },
    /// The reviewing judge decides.
    DecideReview {
        /// Admit or refuse.
        action: Action,
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// A postponement ends: execution goes ahead.
    Resume,
    /// Route the admitted request to a provider.
    RouteToProvider {
        /// The provider's name in the federation directory.
        provider: String,
    },
    /// The provider accepts to act.
    ProviderAcknowledge,
    /// The provider objects.
    Object {
        /// The provider's grounds.
        grounds: Vec<String>,
    },
    /// A judge rules on the objection.
    DecideObjection {
        /// The ruling.
        ruling: Ruling,
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// Data is preserved until a date (at least 60 days away).
    PlaceHold {
        /// The last day of the hold.
        until: Date,
    },
    /// The hold is extended.
    ExtendHold {
        /// The new last day.
        until: Date,
        /// Why.
        reasons: Vec<String>,
    },
    /// The provider produces a sealed evidence package.
    Produce {
        /// The package.
        package: PackageRef,
    },
    /// A sealed evidence package arrived and verified.
    ReceiveEvidence {
        /// The package.
        package: PackageRef,
    },
    /// Send the evidence (or the refused request) back to the requesting State.
    Return,
    /// Close the case.
    Close {
        /// Why, if anything is to be said.
        reasons: Vec<String>,
    },
    /// The requesting side withdraws its request.
    Withdraw {
        /// Why.
        reasons: Vec<String>,
    },
    /// A judge extends the confidentiality order.
    ExtendConfidentiality {
        /// The new expiry.
        until: Date,
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// Publish what was committed, now that secrecy has ended.
    Reveal,
    /// A judge postpones notification of the person concerned.
    PostponeNotification {
        /// Until when.
        until: Date,
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// The person concerned was notified.
    Notify,
    /// Time passes: deadlines and expiries that are due take effect.
    Tick,
}

named_enum! {
    /// The kind of a command, for the transition table.
    CommandKind {
        /// See [`Command::Create`].
        Create = "create",
        /// See [`Command::SubmitForAuthorization`].
        SubmitForAuthorization = "submit_for_authorization",
        /// See [`Command::Authorize`].
        Authorize = "authorize",
        /// See [`Command::RefuseAuthorization`].
        RefuseAuthorization = "refuse_authorization",
        /// See [`Command::Send`].
        Send = "send",
        /// See [`Command::Acknowledge`].
        Acknowledge = "acknowledge",
        /// See [`Command::RecordAnswer`].
        RecordAnswer = "record_answer",
        /// See [`Command::Resend`].
        Resend = "resend",
        /// See [`Command::Decide`].
        Decide = "decide",
        /// See [`Command::ConcludeConsultation`].
        ConcludeConsultation = "conclude_consultation",
        /// See [`Command::DecideReview`].
        DecideReview = "decide_review",
        /// See [`Command::Resume`].
        Resume = "resume",
        /// See [`Command::RouteToProvider`].
        RouteToProvider = "route_to_provider",
        /// See [`Command::ProviderAcknowledge`].
        ProviderAcknowledge = "provider_acknowledge",
        /// See [`Command::Object`].
        Object = "object",
        /// See [`Command::DecideObjection`].
        DecideObjection = "decide_objection",
        /// See [`Command::PlaceHold`].
        PlaceHold = "place_hold",
        /// See [`Command::ExtendHold`].
        ExtendHold = "extend_hold",
        /// See [`Command::Produce`].
        Produce = "produce",
        /// See [`Command::ReceiveEvidence`].
        ReceiveEvidence = "receive_evidence",
        /// See [`Command::Return`].
        Return = "return",
        /// See [`Command::Close`].
        Close = "close",
        /// See [`Command::Withdraw`].
        Withdraw = "withdraw",
        /// See [`Command::ExtendConfidentiality`].
        ExtendConfidentiality = "extend_confidentiality",
        /// See [`Command::Reveal`].
        Reveal = "reveal",
        /// See [`Command::PostponeNotification`].
        PostponeNotification = "postpone_notification",
        /// See [`Command::Notify`].
        Notify = "notify",
        /// See [`Command::Tick`].
        Tick = "tick",
    }
}

impl Command {
    /// The command's kind.
    pub fn kind(&self) -> CommandKind {
        use CommandKind as K;
        match self {
            Command::Create { .. } => K::Create,
            Command::SubmitForAuthorization => K::SubmitForAuthorization,
            Command::Authorize { .. } => K::Authorize,
            Command::RefuseAuthorization { .. } => K::RefuseAuthorization,
            Command::Send => K::Send,
            Command::Acknowledge => K::Acknowledge,
            Command::RecordAnswer { .. } => K::RecordAnswer,
            Command::Resend { .. } => K::Resend,
            Command::Decide { .. } => K::Decide,
            Command::ConcludeConsultation { .. } => K::ConcludeConsultation,
            Command::DecideReview { .. } => K::DecideReview,
            Command::Resume => K::Resume,
            Command::RouteToProvider { .. } => K::RouteToProvider,
            Command::ProviderAcknowledge => K::ProviderAcknowledge,
            Command::Object { .. } => K::Object,
            Command::DecideObjection { .. } => K::DecideObjection,
            Command::PlaceHold { .. } => K::PlaceHold,
            Command::ExtendHold { .. } => K::ExtendHold,
            Command::Produce { .. } => K::Produce,
            Command::ReceiveEvidence { .. } => K::ReceiveEvidence,
            Command::Return => K::Return,
            Command::Close { .. } => K::Close,
            Command::Withdraw { .. } => K::Withdraw,
            Command::ExtendConfidentiality { .. } => K::ExtendConfidentiality,
            Command::Reveal => K::Reveal,
            Command::PostponeNotification { .. } => K::PostponeNotification,
            Command::Notify => K::Notify,
            Command::Tick => K::Tick,
        }
    }
}
