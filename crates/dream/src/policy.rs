//! Thresholds and markers that the passes and the planner share, so that
//! neither reaches into the other's internals.

/// The highest priority a promote can give a memory.
pub const MAX_PRIORITY: i32 = 5;
/// The lowest priority a demote can give a memory.
pub const MIN_PRIORITY: i32 = -3;
/// Content-token cosine at or above which two texts of the same kind say
/// the same thing (duplicate memories; a new finding that repeats one).
pub const SAME_TEXT_COSINE: f64 = 0.6;
/// Mean of token and vector cosine at or above which two memories that name
/// the same commands and share another content word say the same thing
/// (see `passes::duplicates`).
pub const SAME_COMMANDS_SIMILARITY: f64 = 0.3;
/// Tag of the `mistake` findings made from failing workflow shapes; the
/// planner matches them only against existing memories of the same kind.
pub const CAUTION_TAG: &str = "caution";
