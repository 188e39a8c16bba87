//! Every article that custodia cites, as data, in one place.
//!
//! A correction to an article number or paragraph is a one-line change here; rules and
//! their output cite these constants, never string literals. The UNCC numbers follow the
//! text adopted by the Ad Hoc Committee on 8 August 2024 (A/AC.291/L.15); the paragraph
//! numbers inside Articles 2, 36, 40 and 42 follow UNTOC art. 18 / UNCAC art. 46 and are
//! still to be checked against the official text (see DOMAIN.md).

use std::fmt::{self, Write as _};

use crate::instrument::Instrument;

/// One article (or one paragraph of an article) of an instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Article {
    /// The instrument the article belongs to.
    pub instrument: Instrument,
    /// The article number.
    pub number: u16,
    /// The paragraph or point, if the citation is that precise ("2", "h").
    pub paragraph: Option<&'static str>,
    /// A short title in our own words.
    pub title: &'static str,
}

impl Article {
    const fn new(instrument: Instrument, number: u16, paragraph: Option<&'static str>, title: &'static str) -> Article {
        Article { instrument, number, paragraph, title }
    }

    fn write_number(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write!(out, "{}", self.number)?;
        if let Some(p) = self.paragraph {
            write!(out, "({p})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Article {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(prefix(self.instrument))?;
        self.write_number(f)
    }
}

const fn prefix(instrument: Instrument) -> &'static str {
    match instrument {
        Instrument::Uncc => "UNCC ",
        Instrument::Budapest => "ETS 185 art. ",
        Instrument::BudapestP2 => "CETS 224 art. ",
    }
}

macro_rules! articles {
    ($($name:ident = $inst:ident $num:literal $(($para:literal))? : $title:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Article = Article::new(Instrument::$inst, $num, articles!(@p $($para)?), $title);
        )*
        /// Every article defined here, in the order of this table.
        pub const ALL: &[&Article] = &[$(&$name),*];
    };
    (@p) => { None };
    (@p $para:literal) => { Some($para) };
}

articles! {
    UNCC_2_H = Uncc 2 ("h"): "Use of terms: \"serious crime\", punishable by at least four years' deprivation of liberty";
    UNCC_6 = Uncc 6: "Respect for human rights";
    UNCC_6_2 = Uncc 6 ("2"): "Nothing permits suppressing expression, conscience, opinion, religion or belief, peaceful assembly or association";
    UNCC_7 = Uncc 7: "Illegal access";
    UNCC_8 = Uncc 8: "Illegal interception";
    UNCC_9 = Uncc 9: "Interference with electronic data";
    UNCC_10 = Uncc 10: "Interference with an information and communications technology system";
    UNCC_11 = Uncc 11: "Misuse of devices";
    UNCC_12 = Uncc 12: "Information and communications technology system-related forgery";
    UNCC_13 = Uncc 13: "Information and communications technology system-related theft or fraud";
    UNCC_14 = Uncc 14: "Offences related to online child sexual abuse or child sexual exploitation material";
    UNCC_15 = Uncc 15: "Solicitation or grooming for the purpose of committing a sexual offence against a child";
    UNCC_16 = Uncc 16: "Non-consensual dissemination of intimate images";
    UNCC_17 = Uncc 17: "Laundering of proceeds of crime";
    UNCC_23_2 = Uncc 23 ("2"): "Scope of procedural measures";
    UNCC_24 = Uncc 24: "Conditions and safeguards: proportionality, independent review, remedy, limits of scope and duration";
    UNCC_28_4 = Uncc 28 ("4"): "Orders to persons with knowledge of how a system works (the power at issue)";
    UNCC_35_1 = Uncc 35 ("1"): "International cooperation covers Convention offences and evidence of serious crime";
    UNCC_35_2 = Uncc 35 ("2"): "Dual criminality is met when the underlying conduct is a crime in both States";
    UNCC_36_3 = Uncc 36 ("3"): "No onward transfer to a third State or organisation without prior authorisation";
    UNCC_40_15 = Uncc 40 ("15"): "What a request for mutual legal assistance must contain";
    UNCC_40_19 = Uncc 40 ("19"): "Use only for the stated proceedings without prior consent (speciality)";
    UNCC_40_20 = Uncc 40 ("20"): "Confidentiality of the request";
    UNCC_40_21 = Uncc 40 ("21"): "Grounds to refuse mutual legal assistance";
    UNCC_40_22 = Uncc 40 ("22"): "No obligation to assist a request aimed at a person for their opinions, religion or origin";
    UNCC_40_24 = Uncc 40 ("24"): "Reasons must be given for a refusal";
    UNCC_40_27 = Uncc 40 ("27"): "Consult before refusing or postponing";
    UNCC_41 = Uncc 41: "24/7 network of points of contact";
    UNCC_42 = Uncc 42: "International cooperation for the expedited preservation of stored electronic data";
    UNCC_42_2 = Uncc 42 ("2"): "What a preservation request must contain";
    UNCC_42_3 = Uncc 42 ("3"): "Dual criminality not required for preservation";
    UNCC_42_4 = Uncc 42 ("4"): "Reservation of dual criminality for preservation, except for Convention offences";
    UNCC_42_7 = Uncc 42 ("7"): "Preservation for at least 60 days";
    UNCC_43 = Uncc 43: "Expedited disclosure of preserved traffic data";
    UNCC_44 = Uncc 44: "Mutual legal assistance in accessing stored electronic data";
    UNCC_45 = Uncc 45: "Mutual legal assistance in the real-time collection of traffic data";
    UNCC_46 = Uncc 46: "Mutual legal assistance in the interception of content data";
    UNCC_64 = Uncc 64: "Signature, ratification, acceptance, approval and accession";
    UNCC_65 = Uncc 65: "Entry into force: 90 days after the 40th deposit; 30 days after a later deposit";
    ETS_2 = Budapest 2: "Illegal access";
    ETS_3 = Budapest 3: "Illegal interception";
    ETS_4 = Budapest 4: "Data interference";
    ETS_5 = Budapest 5: "System interference";
    ETS_6 = Budapest 6: "Misuse of devices";
    ETS_7 = Budapest 7: "Computer-related forgery";
    ETS_8 = Budapest 8: "Computer-related fraud";
    ETS_9 = Budapest 9: "Offences related to child pornography";
    ETS_10 = Budapest 10: "Offences related to infringements of copyright and related rights";
    ETS_11 = Budapest 11: "Attempt and aiding or abetting";
    ETS_29 = Budapest 29: "Expedited preservation of stored computer data";
    ETS_29_3 = Budapest 29 ("3"): "Dual criminality not required for preservation";
    ETS_29_4 = Budapest 29 ("4"): "Reservation of dual criminality for preservation, except for offences under articles 2-11";
    ETS_29_7 = Budapest 29 ("7"): "Preservation for at least 60 days";
    ETS_30 = Budapest 30: "Expedited disclosure of preserved traffic data";
    ETS_31 = Budapest 31: "Mutual assistance regarding accessing of stored computer data";
    ETS_33 = Budapest 33: "Mutual assistance in the real-time collection of traffic data";
    ETS_34 = Budapest 34: "Mutual assistance regarding the interception of content data";
    ETS_36 = Budapest 36: "Signature and entry into force";
    ETS_37 = Budapest 37: "Accession to the Convention";
    CETS_7 = BudapestP2 7: "Disclosure of subscriber information: orders sent directly to a provider";
    CETS_16 = BudapestP2 16: "Signature and entry into force";
}

/// One item of a citation: an article, or a range of articles, with an optional note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cite {
    /// The (first) article cited.
    pub article: &'static Article,
    /// The last article of a range ("64-65", "42(3)-(4)").
    pub through: Option<&'static Article>,
    /// Words after the number ("(\"without right\")").
    pub note: Option<&'static str>,
}

impl Cite {
    /// One article.
    pub const fn one(article: &'static Article) -> Cite {
        Cite { article, through: None, note: None }
    }

    /// A range of articles or of paragraphs of one article.
    pub const fn range(article: &'static Article, through: &'static Article) -> Cite {
        Cite { article, through: Some(through), note: None }
    }

    /// The same item with a note.
    pub const fn note(self, note: &'static str) -> Cite {
        Cite { note: Some(note), ..self }
    }
}

/// What a rule rests on: one or more articles, possibly of several instruments, rendered
/// as `UNCC 64-65; ETS 185 art. 36-37; CETS 224 art. 16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Citation(pub &'static [Cite]);

impl Citation {
    /// The articles cited (range ends included).
    pub fn articles(&self) -> impl Iterator<Item = &'static Article> + '_ {
        self.0.iter().flat_map(|c| std::iter::once(c.article).chain(c.through))
    }
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous: Option<Instrument> = None;
        for cite in self.0 {
            let a = cite.article;
            match previous {
                Some(i) if i == a.instrument => f.write_str(", ")?,
                Some(_) => {
                    f.write_str("; ")?;
                    f.write_str(prefix(a.instrument))?;
                }
                None => f.write_str(prefix(a.instrument))?,
            }
            previous = Some(a.instrument);
            a.write_number(f)?;
            if let Some(t) = cite.through {
                f.write_char('-')?;
                if t.number == a.number {
                    if let Some(p) = t.paragraph {
                        write!(f, "({p})")?;
                    }
                } else {
                    t.write_number(f)?;
                }
            }
            if let Some(note) = cite.note {
                write!(f, " {note}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_citations_as_policy_md_writes_them() {
        const C: Citation =
            Citation(&[Cite::range(&UNCC_64, &UNCC_65), Cite::range(&ETS_36, &ETS_37), Cite::one(&CETS_16)]);
        assert_eq!(C.to_string(), "UNCC 64-65; ETS 185 art. 36-37; CETS 224 art. 16");
        const D: Citation = Citation(&[Cite::one(&UNCC_2_H), Cite::one(&UNCC_23_2), Cite::one(&UNCC_35_1)]);
        assert_eq!(D.to_string(), "UNCC 2(h), 23(2), 35(1)");
        const E: Citation =
            Citation(&[Cite::range(&UNCC_7, &UNCC_11).note("(\"without right\")"), Cite::one(&UNCC_24)]);
        assert_eq!(E.to_string(), "UNCC 7-11 (\"without right\"), 24");
        const F: Citation = Citation(&[Cite::range(&UNCC_42_3, &UNCC_42_4), Cite::range(&ETS_29_3, &ETS_29_4)]);
        assert_eq!(F.to_string(), "UNCC 42(3)-(4); ETS 185 art. 29(3)-(4)");
        assert_eq!(F.articles().count(), 4);
    }

    #[test]
    fn every_article_is_defined_once() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert!(
                    !(a.instrument == b.instrument && a.number == b.number && a.paragraph == b.paragraph),
                    "{a} twice"
                );
            }
        }
    }
}
