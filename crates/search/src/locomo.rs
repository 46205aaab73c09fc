//! LoCoMo retrieval benchmark: data model and scoring (pure; the `locomo`
//! binary does the file reading).

use crate::SearchError;
use serde_json::Value;

/// One dialogue turn, indexed as a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub dia_id: String,
    /// The session number (`N` of `session_N`).
    pub session: u32,
    pub speaker: String,
    /// What was said, plus ` [shared photo: caption]` when the turn has a `blip_caption`.
    pub content: String,
    /// `speaker: content`.
    pub text: String,
}

/// One question with the turns that hold its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub question: String,
    pub category: u8,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub name: String,
    pub turns: Vec<Turn>,
    pub questions: Vec<Question>,
}

/// Category names as the LoCoMo authors use them.
pub fn category_name(c: u8) -> &'static str {
    match c {
        1 => "multi-hop",
        2 => "temporal",
        3 => "open-domain",
        4 => "single-hop",
        5 => "adversarial",
        _ => "other",
    }
}

/// Evidence ids in the data are occasionally malformed (`D8:6; D9:17`,
/// `D:11:26`, stray spaces). Split and repair them into `D<session>:<turn>`.
pub fn normalize_evidence(raw: &str) -> Vec<String> {
    raw.split([';', ',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let digits: Vec<&str> = s.trim_start_matches('D').split(':').filter(|p| !p.is_empty()).collect();
            match digits.as_slice() {
                [a, b] => format!("D{a}:{b}"),
                _ => s.to_string(),
            }
        })
        .collect()
}

/// Parse one `NN.json` conversation.
pub fn parse_conversation(name: &str, json: &str) -> Result<Conversation, SearchError> {
    let v: Value = serde_json::from_str(json).map_err(|e| SearchError::BenchData(format!("{name}: {e}")))?;
    let obj = v.as_object().ok_or_else(|| SearchError::BenchData(format!("{name}: not an object")))?;
    // Either the conversation at top level (as in locomo10_v2) or under "conversation".
    let conv = obj.get("conversation").and_then(Value::as_object).unwrap_or(obj);
    let mut sessions: Vec<(u32, &Vec<Value>)> = conv
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix("session_")?.parse::<u32>().ok()?;
            Some((n, v.as_array()?))
        })
        .collect();
    sessions.sort_by_key(|(n, _)| *n);
    let mut turns = Vec::new();
    for (session, arr) in sessions {
        for t in arr {
            let get = |k: &str| t.get(k).and_then(Value::as_str);
            let (Some(dia_id), Some(speaker)) = (get("dia_id"), get("speaker")) else { continue };
            let mut content = get("text").unwrap_or("").to_string();
            if let Some(c) = get("blip_caption") {
                content.push_str(&format!(" [shared photo: {c}]"));
            }
            let text = format!("{speaker}: {content}");
            turns.push(Turn { dia_id: dia_id.to_string(), session, speaker: speaker.to_string(), content, text });
        }
    }
    let qa = obj
        .get("qa")
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::BenchData(format!("{name}: no qa array")))?;
    let mut questions = Vec::new();
    for q in qa {
        let question = q.get("question").and_then(Value::as_str).unwrap_or("").to_string();
        let category = q.get("category").and_then(Value::as_u64).unwrap_or(0) as u8;
        let evidence = q
            .get("evidence")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).flat_map(normalize_evidence).collect())
            .unwrap_or_default();
        questions.push(Question { question, category, evidence });
    }
    Ok(Conversation { name: name.to_string(), turns, questions })
}

/// The turns grouped by session, in order (sessions ascending).
pub fn sessions(turns: &[Turn]) -> Vec<Vec<&Turn>> {
    let mut out: Vec<Vec<&Turn>> = Vec::new();
    for t in turns {
        match out.last_mut() {
            Some(cur) if cur.last().is_some_and(|p| p.session == t.session) => cur.push(t),
            _ => out.push(vec![t]),
        }
    }
    out
}

/// Share of `evidence` found among the first `k` of `ranked` (None if no evidence).
pub fn recall_at(ranked: &[String], evidence: &[String], k: usize) -> Option<f64> {
    if evidence.is_empty() {
        return None;
    }
    let top = ranked.get(..k.min(ranked.len())).unwrap_or(&[]);
    let found = evidence.iter().filter(|e| top.contains(e)).count();
    Some(found as f64 / evidence.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_repair() {
        assert_eq!(normalize_evidence("D1:3"), vec!["D1:3"]);
        assert_eq!(normalize_evidence("D:11:26"), vec!["D11:26"]);
        assert_eq!(normalize_evidence("D8:6; D9:17"), vec!["D8:6", "D9:17"]);
    }

    #[test]
    fn recall() {
        let r: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let e: Vec<String> = ["b", "z"].iter().map(|s| s.to_string()).collect();
        assert_eq!(recall_at(&r, &e, 1), Some(0.0));
        assert_eq!(recall_at(&r, &e, 2), Some(0.5));
        assert_eq!(recall_at(&r, &e, 25), Some(0.5));
        assert_eq!(recall_at(&r, &[], 5), None);
    }

    #[test]
    fn parses_shape() {
        let json = r#"{"speaker_a":"A","speaker_b":"B",
            "session_2":[{"speaker":"B","dia_id":"D2:1","text":"later"}],
            "session_1":[{"speaker":"A","dia_id":"D1:1","text":"hi","blip_caption":"a dog"}],
            "session_1_date_time":"1:56 pm on 8 May, 2023",
            "qa":[{"question":"q?","answer":"x","evidence":["D1:1"],"category":4}]}"#;
        let c = parse_conversation("t", json).unwrap();
        assert_eq!(c.turns.len(), 2);
        assert_eq!(c.turns[0].text, "A: hi [shared photo: a dog]");
        assert_eq!((c.turns[0].speaker.as_str(), c.turns[0].content.as_str()), ("A", "hi [shared photo: a dog]"));
        assert_eq!(c.turns[1].dia_id, "D2:1");
        assert_eq!((c.turns[0].session, c.turns[1].session), (1, 2));
        assert_eq!(c.questions[0].evidence, vec!["D1:1"]);
        assert_eq!(c.questions[0].category, 4);
    }
}
