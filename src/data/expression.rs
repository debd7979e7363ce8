//! Facial expressions and the codes each dataset uses for them.

use std::fmt;

/// The basic expressions (Ekman's six, neutral, and CK+'s contempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expression {
    Neutral,
    Happiness,
    Sadness,
    Surprise,
    Anger,
    Disgust,
    Fear,
    Contempt,
}

impl Expression {
    /// The seven classes of the synthetic faces (and JAFFE), in label order.
    pub const SEVEN: [Expression; 7] = [
        Expression::Neutral,
        Expression::Happiness,
        Expression::Sadness,
        Expression::Surprise,
        Expression::Anger,
        Expression::Disgust,
        Expression::Fear,
    ];

    pub const ALL: [Expression; 8] = [
        Expression::Neutral,
        Expression::Happiness,
        Expression::Sadness,
        Expression::Surprise,
        Expression::Anger,
        Expression::Disgust,
        Expression::Fear,
        Expression::Contempt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Expression::Neutral => "neutral",
            Expression::Happiness => "happiness",
            Expression::Sadness => "sadness",
            Expression::Surprise => "surprise",
            Expression::Anger => "anger",
            Expression::Disgust => "disgust",
            Expression::Fear => "fear",
            Expression::Contempt => "contempt",
        }
    }

    /// Parses a name or a common code, case-insensitively: `happiness`, `happy`, `HA`,
    /// `Anger`, `angry`, `AN`, ... (JAFFE codes NE HA SA SU AN DI FE).
    pub fn parse(text: &str) -> Option<Expression> {
        let t = text.trim().to_ascii_lowercase();
        Some(match t.as_str() {
            "neutral" | "ne" | "neu" => Expression::Neutral,
            "happiness" | "happy" | "ha" | "hap" | "joy" => Expression::Happiness,
            "sadness" | "sad" | "sa" => Expression::Sadness,
            "surprise" | "surprised" | "su" | "sur" => Expression::Surprise,
            "anger" | "angry" | "an" | "ang" => Expression::Anger,
            "disgust" | "disgusted" | "di" | "dis" => Expression::Disgust,
            "fear" | "afraid" | "fe" | "fea" => Expression::Fear,
            "contempt" | "co" | "con" => Expression::Contempt,
            _ => return None,
        })
    }

    /// CK+ emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy,
    /// 6 sadness, 7 surprise.
    pub fn from_ck_code(code: u32) -> Option<Expression> {
        [
            Expression::Neutral,
            Expression::Anger,
            Expression::Contempt,
            Expression::Disgust,
            Expression::Fear,
            Expression::Happiness,
            Expression::Sadness,
            Expression::Surprise,
        ]
        .get(code as usize)
        .copied()
    }

    /// FER2013 codes: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral.
    pub fn from_fer2013_code(code: u32) -> Option<Expression> {
        [
            Expression::Anger,
            Expression::Disgust,
            Expression::Fear,
            Expression::Happiness,
            Expression::Sadness,
            Expression::Surprise,
            Expression::Neutral,
        ]
        .get(code as usize)
        .copied()
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
