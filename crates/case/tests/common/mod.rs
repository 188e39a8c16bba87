//! Shared helpers for the case tests.
#![allow(dead_code)]

use case::{Case, Command, Event, Role, Side, Timestamp};

pub fn file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}.case.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

pub fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

pub fn d(s: &str) -> treaty::Date {
    treaty::Date::parse(s).unwrap()
}

pub fn reasons(r: &str) -> Vec<String> {
    vec![r.to_string()]
}

/// A case with its full event list, checked against replay at every step.
pub struct Tracked {
    pub case: Case,
    pub events: Vec<Event>,
    pub file: String,
}

impl Tracked {
    pub fn create(side: Side, name: &str, emergency: bool, role: Role, now: Timestamp) -> Tracked {
        let file = file(name);
        let cmd = Command::Create { id: format!("{side}-{name}"), side, case_file: file.clone(), emergency };
        let (case, created) = Case::create(&cmd, role, now).unwrap();
        Tracked { case, events: vec![created], file }
    }

    pub fn run(&mut self, cmd: Command, role: Role, now: Timestamp) -> Result<Vec<Event>, case::CommandError> {
        let before = self.case.clone();
        match self.case.execute(&cmd, role, now) {
            Ok(events) => {
                self.events.extend(events.iter().cloned());
                assert_eq!(Case::replay(&self.file, &self.events).unwrap(), self.case, "replay differs after {cmd:?}");
                Ok(events)
            }
            Err(e) => {
                assert_eq!(self.case, before, "a refused command changed the case");
                Err(e)
            }
        }
    }

    pub fn ok(&mut self, cmd: Command, role: Role, now: Timestamp) -> Vec<Event> {
        let label = format!("{cmd:?} by {role}");
        self.run(cmd, role, now).unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    pub fn kinds(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(Event::kind).collect()
    }
}
