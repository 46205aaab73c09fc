//! In-memory hybrid index: BM25 over an inverted index plus exact cosine
//! over a flat vector matrix, fused by reciprocal rank fusion (default) or
//! a convex combination of normalised scores, then boosted by priority and
//! recency.
//!
//! # Scoring
//!
//! For a query, each side ranks its top `fusion_depth` documents (ranks
//! start at 1). A document's fused score (`ScoreParts::rrf`) is
//!
//! ```text
//! Fusion::Rrf:    fused = bm25_weight / (rrf_k + bm25_rank) + vector_weight / (rrf_k + vector_rank)
//! Fusion::Convex: fused = (bm25_weight * bm25 / best_bm25
//!                          + vector_weight * (cos - min_cos) / (max_cos - min_cos)) / (rrf_k + 1)
//!                 (min/max over the vector side's top list, clamped to [0, 1])
//! score = fused + priority_boost + recency_boost
//! priority_boost = priority_weight * clamp(priority, -priority_clamp, priority_clamp)
//! recency_boost  = recency_weight * 0.5 ^ (age_days / half_life_days)    (0 without updated_at)
//! ```
//!
//! (a side's term is 0 when the document is not in that side's top list).
//! With the defaults (`rrf_k` = 60, `bm25_weight` 1, `vector_weight` 0.3 —
//! tuned on LoCoMo where the vector side is the weaker one —, `priority_weight` = 0.001,
//! clamp 5, `recency_weight` = 0.004, half-life 90 days) one priority point
//! is worth about the gap between rank 1 and rank 5 on one side, the
//! maximum priority (±5) about the gap between ranks 1 and 60, and a
//! brand-new document gains at most 0.004 (decaying to 0.002 after 90
//! days). Boosts reorder close candidates; they cannot lift a document that
//! neither side retrieved. Equal scores are ordered by `kind_rank`, then id.
//!
//! BM25 uses k1 = 1.2, b = 0.75 and idf = ln(1 + (N − df + 0.5)/(df + 0.5)),
//! over [`crate::text::tokenize`] terms.
//!
//! # Context (document expansion)
//!
//! A document may be indexed with context text — for a conversation turn or
//! session event, its neighbours ([`HybridIndex::build_sequences`]). Each
//! context term occurrence counts `context_weight` (own terms count 1)
//! towards the term frequency, the document length and, like own terms,
//! the document frequency; the vector is the normalised sum of the own
//! embedding and `context_vector_weight` times each neighbour's. A hit is
//! always the document itself.

use crate::embed::{l2_normalize, Embedder, EmbedderInfo};
use crate::text::tokenize;
use crate::SearchError;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A document to index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub priority: i32,
    /// RFC 3339; `None` gets no recency boost.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Presentation rank of the kind (see `MemoryKind::rank`); lower wins ties.
    #[serde(default)]
    pub kind_rank: u8,
}

impl Doc {
    /// The searchable view of a memory: its text plus its tags.
    pub fn from_memory(m: &nocturne_core::memory::Memory) -> Self {
        let text = if m.tags.is_empty() { m.text.clone() } else { format!("{}\n{}", m.text, m.tags.join(" ")) };
        Doc {
            id: m.id.clone(),
            text,
            priority: m.priority,
            updated_at: Some(m.updated_at.clone()),
            kind_rank: m.kind.rank(),
        }
    }
}

/// How the BM25 and vector sides are fused (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal rank fusion: `w / (rrf_k + rank)` per side.
    #[default]
    Rrf,
    /// Convex combination of normalised scores: BM25 / the query's best
    /// BM25, cosine min-max normalised over the vector side's top list,
    /// weighted by `bm25_weight` and `vector_weight` and divided by
    /// `rrf_k + 1` (so that the boosts keep the scale they have with RRF).
    Convex,
}

/// Fusion and boost parameters (see the module docs for the formula).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexConfig {
    pub fusion: Fusion,
    pub bm25_k1: f32,
    pub bm25_b: f32,
    pub rrf_k: f32,
    /// How many results of each side enter the fusion.
    pub fusion_depth: usize,
    pub bm25_weight: f32,
    pub vector_weight: f32,
    pub priority_weight: f32,
    pub priority_clamp: i32,
    pub recency_weight: f32,
    pub half_life_days: f32,
    /// BM25 weight of a context term relative to an own term (see
    /// [`HybridIndex::upsert_in_context`]): a context occurrence adds this
    /// much to the term frequency and to the document length.
    pub context_weight: f32,
    /// Weight of each neighbour's vector in a document's vector when built
    /// by [`HybridIndex::build_sequences`] (own vector weight 1).
    pub context_vector_weight: f32,
    /// Neighbours on each side that form a document's context in
    /// [`HybridIndex::build_sequences`] (0 = no context).
    pub context_window: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            fusion: Fusion::Rrf,
            bm25_k1: 1.2,
            bm25_b: 0.75,
            rrf_k: 60.0,
            fusion_depth: 100,
            bm25_weight: 1.0,
            vector_weight: 0.3,
            priority_weight: 0.001,
            priority_clamp: 5,
            recency_weight: 0.004,
            half_life_days: 90.0,
            context_weight: 0.5,
            context_vector_weight: 0.3,
            context_window: 2,
        }
    }
}

impl IndexConfig {
    /// The preset for searching conversations and session logs with
    /// [`HybridIndex::build_sequences`]: each event in the context of two
    /// neighbours on each side (BM25 context weight 0.5, neighbour vector
    /// weight 0.3), convex fusion with vector weight 0.4. Chosen on three
    /// LoCoMo conversations (26, 30, 41) and checked on two others (42,
    /// 43); see BENCHMARKS.md.
    pub fn sessions() -> Self {
        IndexConfig {
            fusion: Fusion::Convex,
            vector_weight: 0.4,
            context_weight: 0.5,
            context_vector_weight: 0.3,
            context_window: 2,
            ..IndexConfig::default()
        }
    }
}

/// How a hit's score was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScoreParts {
    /// BM25 score, if any query term occurs in the document.
    pub bm25: Option<f32>,
    /// 1-based rank on the BM25 side, if within `fusion_depth`.
    pub bm25_rank: Option<usize>,
    /// Cosine similarity with the query vector (absent for a zero query vector).
    pub vector: Option<f32>,
    /// 1-based rank on the vector side, if within `fusion_depth`.
    pub vector_rank: Option<usize>,
    pub rrf: f32,
    pub priority_boost: f32,
    pub recency_boost: f32,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    pub parts: ScoreParts,
}

#[derive(Debug, Clone)]
struct Slot {
    id: String,
    priority: i32,
    updated_unix: Option<i64>,
    kind_rank: u8,
    len: f32,
    /// Term ids — kept so that removal can clean the postings.
    terms: Vec<u32>,
}

/// The hybrid index. Cheap to clone only in the sense that it is plain data.
#[derive(Debug, Clone)]
pub struct HybridIndex {
    embedder: EmbedderInfo,
    config: IndexConfig,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
    /// `slots.len() * dim` floats, row per slot (zeros for free slots).
    vectors: Vec<f32>,
    /// The same rows quantised to i8 (row / max|row| * 127), for the fast scan.
    qvectors: Vec<i8>,
    /// Per-row scale: max|row| / 127.
    qscales: Vec<f32>,
    /// Compact per-slot data for the hot loops: liveness and BM25 length.
    live: Vec<bool>,
    lens: Vec<f32>,
    vocab: HashMap<String, u32>,
    /// term id → (slot, tf), tf counting a context occurrence as `context_weight`
    postings: Vec<Vec<(u32, f32)>>,
    total_len: f64,
}

/// Rows per parallel work item in the vector scan.
const PAR_ROWS: usize = 4096;
/// Below this many rows the vector side is an exact f32 scan; from here on
/// an i8 scan shortlists candidates that are then re-ranked exactly.
const QUANT_MIN_ROWS: usize = 16_384;
/// Shortlist size of the i8 scan, as a multiple of the fusion depth.
const SHORTLIST_FACTOR: usize = 4;

impl HybridIndex {
    /// An empty index for vectors of `embedder`.
    pub fn new(embedder: EmbedderInfo, config: IndexConfig) -> Self {
        HybridIndex {
            embedder,
            config,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            vectors: Vec::new(),
            qvectors: Vec::new(),
            qscales: Vec::new(),
            live: Vec::new(),
            lens: Vec::new(),
            vocab: HashMap::new(),
            postings: Vec::new(),
            total_len: 0.0,
        }
    }

    /// Embed `docs` with `embedder` and index them.
    pub fn build(embedder: &dyn Embedder, config: IndexConfig, docs: Vec<Doc>) -> Result<Self, SearchError> {
        let info = EmbedderInfo::of(embedder);
        let mut index = HybridIndex::new(info.clone(), config);
        let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        let vecs = embedder.embed(&texts)?;
        if vecs.len() != docs.len() {
            return Err(SearchError::Embedding(format!("{} vectors for {} texts", vecs.len(), docs.len())));
        }
        for (doc, v) in docs.into_iter().zip(vecs) {
            index.upsert(doc, &info, v)?;
        }
        Ok(index)
    }

    pub fn embedder(&self) -> &EmbedderInfo {
        &self.embedder
    }

    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    fn check(&self, given: &EmbedderInfo, len: usize) -> Result<(), SearchError> {
        if *given != self.embedder || len != self.embedder.dim {
            let given = if len == given.dim { given.to_string() } else { format!("{given} with a vector of {len}") };
            return Err(SearchError::EmbedderMismatch { index: self.embedder.to_string(), given });
        }
        Ok(())
    }

    /// Insert or replace `doc` with its vector, made by `embedder`.
    /// Refuses (`EmbedderMismatch`) vectors of another embedder or dimension.
    pub fn upsert(&mut self, doc: Doc, embedder: &EmbedderInfo, vector: Vec<f32>) -> Result<(), SearchError> {
        self.upsert_in_context(doc, "", embedder, vector)
    }

    /// Like [`HybridIndex::upsert`], with `context`: text the document is
    /// read with (e.g. the neighbouring turns of a conversation), indexed
    /// for BM25 at `context_weight` per occurrence (term frequency and
    /// document length), while the hit remains the document itself.
    /// `vector` is taken as given (see [`HybridIndex::build_sequences`] for
    /// context-mixed vectors).
    pub fn upsert_in_context(
        &mut self,
        doc: Doc,
        context: &str,
        embedder: &EmbedderInfo,
        mut vector: Vec<f32>,
    ) -> Result<(), SearchError> {
        self.check(embedder, vector.len())?;
        let updated_unix = match &doc.updated_at {
            Some(s) => Some(
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| SearchError::InvalidTimestamp { id: doc.id.clone(), value: s.clone() })?
                    .unix_timestamp(),
            ),
            None => None,
        };
        l2_normalize(&mut vector);
        self.remove(&doc.id);

        let cw = self.config.context_weight.max(0.0);
        let mut tf: HashMap<u32, f32> = HashMap::new();
        let mut len = 0f32;
        let own = tokenize(&doc.text).into_iter().map(|t| (t, 1.0));
        let ctx = if cw > 0.0 { tokenize(context) } else { Vec::new() };
        for (t, w) in own.chain(ctx.into_iter().map(|t| (t, cw))) {
            let next = self.vocab.len() as u32;
            let tid = *self.vocab.entry(t).or_insert(next);
            if tid == next {
                self.postings.push(Vec::new());
            }
            *tf.entry(tid).or_insert(0.0) += w;
            len += w;
        }
        let slot_no = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.vectors.resize(self.vectors.len() + self.embedder.dim, 0.0);
                self.qvectors.resize(self.qvectors.len() + self.embedder.dim, 0);
                self.qscales.push(0.0);
                self.live.push(false);
                self.lens.push(0.0);
                (self.slots.len() - 1) as u32
            }
        };
        let mut terms: Vec<(u32, f32)> = tf.into_iter().collect();
        terms.sort_unstable_by_key(|t| t.0);
        for &(tid, f) in &terms {
            if let Some(p) = self.postings.get_mut(tid as usize) {
                p.push((slot_no, f));
            }
        }
        let terms: Vec<u32> = terms.into_iter().map(|t| t.0).collect();
        let dim = self.embedder.dim;
        let start = slot_no as usize * dim;
        if let Some(row) = self.vectors.get_mut(start..start + dim) {
            row.copy_from_slice(&vector);
        }
        let (qrow, scale) = quantize(&vector);
        if let Some(row) = self.qvectors.get_mut(start..start + dim) {
            row.copy_from_slice(&qrow);
        }
        if let Some(sc) = self.qscales.get_mut(slot_no as usize) {
            *sc = scale;
        }
        if let (Some(l), Some(n)) = (self.live.get_mut(slot_no as usize), self.lens.get_mut(slot_no as usize)) {
            *l = true;
            *n = len;
        }
        self.total_len += f64::from(len);
        self.by_id.insert(doc.id.clone(), slot_no);
        if let Some(s) = self.slots.get_mut(slot_no as usize) {
            *s = Some(Slot { id: doc.id, priority: doc.priority, updated_unix, kind_rank: doc.kind_rank, len, terms });
        }
        Ok(())
    }

    /// Index ordered sequences of documents (e.g. the events of each
    /// session, in order), each document in the context of its neighbours:
    /// the `context_window` documents before and after it in the same
    /// sequence. Their text is indexed at `context_weight` for BM25
    /// ([`HybridIndex::upsert_in_context`]) and the document's vector is
    /// `normalize(own + context_vector_weight * Σ neighbour)` over
    /// normalised embeddings. Hits are still the documents themselves.
    /// Documents are embedded once each.
    pub fn build_sequences(
        embedder: &dyn Embedder,
        config: IndexConfig,
        sequences: Vec<Vec<Doc>>,
    ) -> Result<Self, SearchError> {
        let seqs = sequences.into_iter().map(|s| s.into_iter().map(|d| (d, String::new())).collect()).collect();
        Self::build_sequences_with_meta(embedder, config, seqs)
    }

    /// [`HybridIndex::build_sequences`] where each document also carries
    /// metadata text (e.g. its speaker or role): indexed for BM25 at
    /// `context_weight`, like the neighbours' text, and not embedded.
    pub fn build_sequences_with_meta(
        embedder: &dyn Embedder,
        config: IndexConfig,
        sequences: Vec<Vec<(Doc, String)>>,
    ) -> Result<Self, SearchError> {
        let info = EmbedderInfo::of(embedder);
        let window = config.context_window;
        let cvw = config.context_vector_weight.max(0.0);
        let mut index = HybridIndex::new(info.clone(), config);
        let texts: Vec<&str> = sequences.iter().flatten().map(|(d, _)| d.text.as_str()).collect();
        let mut vecs = embedder.embed(&texts)?;
        if vecs.len() != texts.len() {
            return Err(SearchError::Embedding(format!("{} vectors for {} texts", vecs.len(), texts.len())));
        }
        vecs.iter_mut().for_each(|v| l2_normalize(v));
        let mut offset = 0;
        for seq in sequences {
            let n = seq.len();
            let own = vecs.get(offset..offset + n).unwrap_or(&[]);
            let context_texts: Vec<String> = (0..n)
                .map(|i| {
                    let meta = seq.get(i).map(|(_, m)| m.as_str()).into_iter();
                    meta.chain(neighbours(i, n, window).filter_map(|j| seq.get(j)).map(|(d, _)| d.text.as_str()))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .collect();
            for (i, ((doc, _), context)) in seq.into_iter().zip(context_texts).enumerate() {
                let mut v = own.get(i).cloned().unwrap_or_default();
                if cvw > 0.0 {
                    for nv in neighbours(i, n, window).filter_map(|j| own.get(j)) {
                        for (x, y) in v.iter_mut().zip(nv) {
                            *x += cvw * y;
                        }
                    }
                }
                index.upsert_in_context(doc, &context, &info, v)?;
            }
            offset += n;
        }
        Ok(index)
    }

    /// Embed `doc` with `embedder` (which must be the index's) and upsert it.
    pub fn upsert_with(&mut self, embedder: &dyn Embedder, doc: Doc) -> Result<(), SearchError> {
        let info = EmbedderInfo::of(embedder);
        self.check(&info, info.dim)?;
        let v = embedder.embed(&[doc.text.as_str()])?.into_iter().next().unwrap_or_default();
        self.upsert(doc, &info, v)
    }

    /// Remove a document; returns whether it was present.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot_no) = self.by_id.remove(id) else { return false };
        let Some(slot) = self.slots.get_mut(slot_no as usize).and_then(Option::take) else { return false };
        for tid in &slot.terms {
            if let Some(p) = self.postings.get_mut(*tid as usize) {
                p.retain(|(s, _)| *s != slot_no);
            }
        }
        let dim = self.embedder.dim;
        let start = slot_no as usize * dim;
        if let Some(row) = self.vectors.get_mut(start..start + dim) {
            row.fill(0.0);
        }
        if let Some(row) = self.qvectors.get_mut(start..start + dim) {
            row.fill(0);
        }
        if let Some(sc) = self.qscales.get_mut(slot_no as usize) {
            *sc = 0.0;
        }
        if let (Some(l), Some(n)) = (self.live.get_mut(slot_no as usize), self.lens.get_mut(slot_no as usize)) {
            *l = false;
            *n = 0.0;
        }
        self.total_len = (self.total_len - f64::from(slot.len)).max(0.0);
        self.free.push(slot_no);
        true
    }

    /// Approximate heap use in bytes (vectors, postings, slots, maps).
    pub fn approx_memory_bytes(&self) -> usize {
        let vectors = self.vectors.capacity() * 4 + self.qvectors.capacity() + self.qscales.capacity() * 4;
        let compact = self.live.capacity() + self.lens.capacity() * 4;
        let postings: usize = self.postings.iter().map(|p| p.capacity() * 8 + 24).sum();
        let vocab: usize = self.vocab.keys().map(|k| k.capacity() + 24 + 4 + 8).sum();
        let slots: usize = self
            .slots
            .iter()
            .map(|s| {
                std::mem::size_of::<Option<Slot>>() + s.as_ref().map_or(0, |s| s.id.capacity() + s.terms.capacity() * 4)
            })
            .sum();
        let by_id: usize = self.by_id.keys().map(|k| k.capacity() + 24 + 4 + 8).sum();
        vectors + compact + postings + vocab + slots + by_id
    }

    /// BM25 scores of every slot (0 where no term matches) and whether any matched.
    fn bm25_scores(&self, query: &str) -> Option<Vec<f32>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let mut qterms: Vec<u32> = tokenize(query).iter().filter_map(|t| self.vocab.get(t).copied()).collect();
        qterms.sort_unstable();
        qterms.dedup();
        if qterms.is_empty() {
            return None;
        }
        let avgdl = ((self.total_len / n as f64) as f32).max(1e-6);
        let (k1, b) = (self.config.bm25_k1, self.config.bm25_b);
        let mut scores = vec![0.0f32; self.slots.len()];
        let mut any = false;
        for tid in qterms {
            let Some(post) = self.postings.get(tid as usize) else { continue };
            let df = post.len() as f32;
            if post.is_empty() {
                continue;
            }
            any = true;
            let idf = (1.0 + (n as f32 - df + 0.5) / (df + 0.5)).ln();
            for &(s, f) in post {
                let dl = self.lens.get(s as usize).copied().unwrap_or(0.0);
                if let Some(sc) = scores.get_mut(s as usize) {
                    *sc += idf * f * (k1 + 1.0) / (f + k1 * (1.0 - b + b * dl / avgdl));
                }
            }
        }
        any.then_some(scores)
    }

    /// Exact cosine of slot `s` with the normalised query.
    fn exact(&self, s: u32, q: &[f32]) -> f32 {
        let dim = self.embedder.dim;
        let start = s as usize * dim;
        self.vectors.get(start..start + dim).map_or(0.0, |row| dot(row, q))
    }

    /// Scores of every slot: exact cosine below `QUANT_MIN_ROWS` rows,
    /// otherwise the i8 approximation (used only to shortlist).
    fn scan(&self, q: &[f32]) -> (Vec<f32>, bool) {
        let dim = self.embedder.dim;
        let mut scores = vec![0.0f32; self.slots.len()];
        if dim == 0 {
            return (scores, true);
        }
        if self.slots.len() < QUANT_MIN_ROWS {
            for (o, row) in scores.iter_mut().zip(self.vectors.chunks_exact(dim)) {
                *o = dot(row, q);
            }
            return (scores, true);
        }
        let (qq, qscale) = quantize(q);
        let work = |((out, rows), scales): ((&mut [f32], &[i8]), &[f32])| {
            for ((o, row), sc) in out.iter_mut().zip(rows.chunks_exact(dim)).zip(scales) {
                *o = dot_i8(row, &qq) as f32 * sc * qscale;
            }
        };
        scores
            .par_chunks_mut(PAR_ROWS)
            .zip(self.qvectors.par_chunks(PAR_ROWS * dim))
            .zip(self.qscales.par_chunks(PAR_ROWS))
            .for_each(work);
        (scores, false)
    }

    /// The vector side's top `depth` (slot, exact cosine). Large indexes
    /// shortlist `SHORTLIST_FACTOR * depth` rows with the i8 scan, then
    /// rank the shortlist by exact cosine over the f32 rows.
    fn vector_top(&self, q: &[f32], depth: usize) -> Vec<(u32, f32)> {
        let (scores, exact) = self.scan(q);
        if exact {
            return self.top(&scores, depth, |_| true);
        }
        let mut short: Vec<(u32, f32)> = self
            .top(&scores, depth.saturating_mul(SHORTLIST_FACTOR), |_| true)
            .into_iter()
            .map(|(s, _)| (s, self.exact(s, q)))
            .collect();
        short.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        short.truncate(depth);
        short
    }

    /// Top `depth` live slots by score (desc), only those with `keep(score)`.
    fn top(&self, scores: &[f32], depth: usize, keep: impl Fn(f32) -> bool) -> Vec<(u32, f32)> {
        let mut cand: Vec<(u32, f32)> = scores
            .iter()
            .enumerate()
            .zip(&self.live)
            .filter(|((_, s), live)| **live && keep(**s))
            .map(|(x, _)| x)
            .map(|(i, s)| (i as u32, *s))
            .collect();
        let cmp = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if cand.len() > depth && depth > 0 {
            cand.select_nth_unstable_by(depth - 1, cmp);
            cand.truncate(depth);
        }
        cand.sort_unstable_by(cmp);
        cand.truncate(depth);
        cand
    }

    fn slot(&self, s: u32) -> Option<&Slot> {
        self.slots.get(s as usize).and_then(|x| x.as_ref())
    }

    fn normalized_query(&self, query_vec: &[f32]) -> Result<Option<Vec<f32>>, SearchError> {
        if query_vec.len() != self.embedder.dim {
            return Err(SearchError::EmbedderMismatch {
                index: self.embedder.to_string(),
                given: format!("a query vector of {}", query_vec.len()),
            });
        }
        let mut q = query_vec.to_vec();
        l2_normalize(&mut q);
        Ok(q.iter().any(|x| *x != 0.0).then_some(q))
    }

    /// Hybrid search. `query_vec` must come from the index's embedder (its
    /// length is checked; use [`HybridIndex::search_with`] to also check the
    /// embedder id). `now` anchors the recency boost.
    pub fn search(
        &self,
        query_text: &str,
        query_vec: &[f32],
        k: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Hit>, SearchError> {
        let q = self.normalized_query(query_vec)?;
        let depth = self.config.fusion_depth.max(k);
        let bm = self.bm25_scores(query_text);
        let bm_top = bm.as_ref().map(|s| self.top(s, depth, |x| x > 0.0)).unwrap_or_default();
        let vec_top = q.as_ref().map(|q| self.vector_top(q, depth)).unwrap_or_default();

        let mut fused: HashMap<u32, (Option<usize>, Option<usize>)> = HashMap::new();
        for (r, (s, _)) in bm_top.iter().enumerate() {
            fused.entry(*s).or_default().0 = Some(r + 1);
        }
        for (r, (s, _)) in vec_top.iter().enumerate() {
            fused.entry(*s).or_default().1 = Some(r + 1);
        }
        let c = &self.config;
        let now_unix = now.unix_timestamp();
        let bm_max = bm_top.first().map_or(0.0, |x| x.1);
        let (v_max, v_min) = (vec_top.first().map_or(0.0, |x| x.1), vec_top.last().map_or(0.0, |x| x.1));
        let mut hits: Vec<(u8, Hit)> = fused
            .into_iter()
            .filter_map(|(s, (br, vr))| {
                let slot = self.slot(s)?;
                let bm25 = bm.as_ref().and_then(|v| v.get(s as usize).copied()).filter(|x| *x > 0.0);
                let vector = q.as_ref().map(|q| self.exact(s, q));
                let rrf = match c.fusion {
                    Fusion::Rrf => {
                        br.map_or(0.0, |r| c.bm25_weight / (c.rrf_k + r as f32))
                            + vr.map_or(0.0, |r| c.vector_weight / (c.rrf_k + r as f32))
                    }
                    Fusion::Convex => {
                        let b = if bm_max > 0.0 { bm25.unwrap_or(0.0) / bm_max } else { 0.0 };
                        let v = match vector {
                            Some(v) if v_max > v_min => ((v - v_min) / (v_max - v_min)).clamp(0.0, 1.0),
                            Some(_) if vr.is_some() => 1.0,
                            _ => 0.0,
                        };
                        (c.bm25_weight * b + c.vector_weight * v) / (c.rrf_k + 1.0)
                    }
                };
                let priority_boost =
                    c.priority_weight * slot.priority.clamp(-c.priority_clamp.abs(), c.priority_clamp.abs()) as f32;
                let recency_boost = match slot.updated_unix {
                    Some(t) if c.half_life_days > 0.0 => {
                        let age_days = ((now_unix - t).max(0) as f64 / 86_400.0) as f32;
                        c.recency_weight * 0.5f32.powf(age_days / c.half_life_days)
                    }
                    _ => 0.0,
                };
                let parts =
                    ScoreParts { bm25, bm25_rank: br, vector, vector_rank: vr, rrf, priority_boost, recency_boost };
                Some((slot.kind_rank, Hit { id: slot.id.clone(), score: rrf + priority_boost + recency_boost, parts }))
            })
            .collect();
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)).then_with(|| a.1.id.cmp(&b.1.id)));
        hits.truncate(k);
        Ok(hits.into_iter().map(|(_, h)| h).collect())
    }

    /// Embed `query` with `embedder` (refused unless it is the index's) and search.
    pub fn search_with(
        &self,
        embedder: &dyn Embedder,
        query: &str,
        k: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Hit>, SearchError> {
        let info = EmbedderInfo::of(embedder);
        self.check(&info, info.dim)?;
        let v = embedder.embed(&[query])?.into_iter().next().unwrap_or_default();
        self.search(query, &v, k, now)
    }

    /// Baseline: BM25 only, no boosts (`score` = BM25 score).
    pub fn search_bm25_only(&self, query_text: &str, k: usize) -> Vec<Hit> {
        let Some(bm) = self.bm25_scores(query_text) else { return Vec::new() };
        self.top(&bm, k, |x| x > 0.0)
            .into_iter()
            .enumerate()
            .filter_map(|(r, (s, score))| {
                let slot = self.slot(s)?;
                let parts = ScoreParts {
                    bm25: Some(score),
                    bm25_rank: Some(r + 1),
                    vector: None,
                    vector_rank: None,
                    rrf: 0.0,
                    priority_boost: 0.0,
                    recency_boost: 0.0,
                };
                Some(Hit { id: slot.id.clone(), score, parts })
            })
            .collect()
    }

    /// Baseline: exact cosine only, no boosts (`score` = cosine).
    pub fn search_vector_only(&self, query_vec: &[f32], k: usize) -> Result<Vec<Hit>, SearchError> {
        let Some(q) = self.normalized_query(query_vec)? else { return Ok(Vec::new()) };
        Ok(self
            .vector_top(&q, k.max(self.config.fusion_depth.min(k.saturating_mul(4))))
            .into_iter()
            .take(k)
            .enumerate()
            .filter_map(|(r, (s, score))| {
                let slot = self.slot(s)?;
                let parts = ScoreParts {
                    bm25: None,
                    bm25_rank: None,
                    vector: Some(score),
                    vector_rank: Some(r + 1),
                    rrf: 0.0,
                    priority_boost: 0.0,
                    recency_boost: 0.0,
                };
                Some(Hit { id: slot.id.clone(), score, parts })
            })
            .collect())
    }
}

/// Indices of the neighbours of `i` in a sequence of `n`, up to `window` on each side.
fn neighbours(i: usize, n: usize, window: usize) -> impl Iterator<Item = usize> {
    (i.saturating_sub(window)..(i + window + 1).min(n)).filter(move |j| *j != i)
}

/// Symmetric i8 quantisation: (row, scale) with row[i] * scale ≈ v[i].
fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

/// i8 dot product accumulated in i32 (sums of 16 products fit in i16·2).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum();
    let mut acc = [0i32; 16];
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += i32::from(*x) * i32::from(*y);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// Dot product with eight independent accumulators (lets the compiler
/// vectorise without `unsafe` or target features).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}
