//! Projects: which working directory a memory is about.
//!
//! Scopes say *who* a memory applies to; a project says *where*: a lesson
//! such as "In `shop`, run the tests with `uv run pytest`" holds in one
//! checkout and misleads an agent working in another. A project is
//! identified by the directory the sessions ran in (the working directory
//! the ingest recorded), never by its folder name alone: two checkouts both
//! called `app` are two projects.
//!
//! - **Id** ([`Project`]): `NAME#KEY`. `KEY` is the first 12 hex digits of
//!   SHA-256 over the normalized directory ([`normalize_dir`]: `\` as `/`,
//!   no trailing separator, a worktree — `…/.claude/worktrees/<id>`,
//!   `…/.worktrees/<id>`, `…/worktrees/<id>` — as the checkout it was made
//!   from); `NAME` is the folder's last component with every character
//!   outside `A-Z a-z 0-9 . _ -` as `-`, or `project` when that would show a
//!   home directory's user or an id (a hex run with digits). The path itself
//!   is never stored: the key cannot be turned back into it.
//! - **Tag** ([`PROJECT_TAG`]): a memory belongs to a project when it carries
//!   the tag `project:NAME#KEY` (at most one). A tag `project:NAME` without a
//!   key (written before projects had keys) names the project by its folder
//!   name only ([`ProjectTag::Named`]).
//! - **Matching** ([`ProjectTag::holds_in`]): a keyed memory holds in a
//!   directory when its key is the directory's or an ancestor's (an agent in
//!   `shop/web` is in `shop`), home directories and the root excepted; a
//!   named one when the name is the directory's or an ancestor's name.
//!
//! Pure string logic: nothing here reads the file system.

use crate::CoreError;
use sha2::{Digest, Sha256};
use std::fmt;

/// The tag prefix that marks a memory's project.
pub const PROJECT_TAG: &str = "project:";

/// Hex digits of the key.
const KEY_LEN: usize = 12;

/// The name of a project whose folder's own name must not be shown.
pub const UNNAMED: &str = "project";

/// A project: a readable name and a stable key from its full directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Project {
    pub name: String,
    pub key: String,
}

/// The project a memory's tag names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProjectTag {
    /// `project:NAME#KEY`.
    Keyed(Project),
    /// `project:NAME` (no key: a tag written before projects had keys).
    Named(String),
}

/// `dir` with `\` as `/`, repeated and trailing separators dropped, and a
/// worktree as the checkout it was made from. `None` for an empty path or
/// the root.
pub fn normalize_dir(dir: &str) -> Option<String> {
    let unified = dir.trim().replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for p in unified.split('/') {
        if !p.is_empty() && p != "." {
            parts.push(p);
        }
    }
    // A worktree (`…/.claude/worktrees/<id>`, `…/.worktrees/<id>`,
    // `…/worktrees/<id>`) belongs to the checkout it was made from.
    let at = parts
        .iter()
        .enumerate()
        .position(|(i, p)| matches!(*p, "worktrees" | ".worktrees") && i > 0 && i + 1 < parts.len());
    if let Some(i) = at {
        let cut =
            if i > 1 && parts.get(i - 1) == Some(&".claude") && parts.get(i) == Some(&"worktrees") { i - 1 } else { i };
        parts.truncate(cut);
    }
    if parts.is_empty() || (parts.len() == 1 && parts.first().is_some_and(|p| p.ends_with(':'))) {
        return None;
    }
    let lead = if unified.starts_with('/') { "/" } else { "" };
    Some(format!("{lead}{}", parts.join("/")))
}

/// Whether a normalized directory is a home directory (`/Users/ana`,
/// `/home/ana`, `C:/Users/ana`, `/root`).
fn is_home(parts: &[&str]) -> bool {
    match parts {
        ["root"] => true,
        [.., "Users" | "home", _] => parts.len() <= 3,
        _ => false,
    }
}

fn key_of(normalized: &str) -> String {
    let d = Sha256::digest(normalized.as_bytes());
    let mut k = hex::encode(d);
    k.truncate(KEY_LEN);
    k
}

/// Whether `name` looks like an id: a run of 6 hex digits with a digit.
fn hexish(name: &str) -> bool {
    name.as_bytes().windows(6).any(|w| w.iter().all(u8::is_ascii_hexdigit) && w.iter().any(u8::is_ascii_digit))
}

/// A valid project name: 1–60 characters of `A-Z a-z 0-9 . _ -`.
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 60 && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Project {
    /// The project of a working directory (see the module docs); `None` for
    /// an empty path or the root.
    pub fn of_dir(dir: &str) -> Option<Project> {
        let n = normalize_dir(dir)?;
        let parts: Vec<&str> = n.split('/').filter(|p| !p.is_empty()).collect();
        let last = parts.last().copied().unwrap_or_default();
        let mut name: String =
            last.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_') { c } else { '-' }).collect();
        name = name.trim_matches('-').chars().take(60).collect();
        if is_home(&parts) || hexish(last) || !valid_name(&name) {
            name = UNNAMED.to_string();
        }
        Some(Project { name, key: key_of(&n) })
    }

    /// Parses an id `NAME#KEY`.
    pub fn parse_id(s: &str) -> Result<Project, CoreError> {
        let bad = || CoreError::InvalidProject(s.to_string());
        let (name, key) = s.split_once('#').ok_or_else(bad)?;
        let key_ok = key.len() == KEY_LEN && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid_name(name) || !key_ok {
            return Err(bad());
        }
        Ok(Project { name: name.to_string(), key: key.to_string() })
    }

    /// The memory tag that marks this project: `project:NAME#KEY`.
    pub fn tag(&self) -> String {
        format!("{PROJECT_TAG}{self}")
    }
}

impl fmt::Display for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.name, self.key)
    }
}

impl ProjectTag {
    /// Parses one tag: `None` when it is no project tag, an error when it
    /// starts with `project:` but has neither valid form.
    pub fn parse(tag: &str) -> Option<Result<ProjectTag, CoreError>> {
        let rest = tag.strip_prefix(PROJECT_TAG)?;
        Some(if rest.contains('#') {
            Project::parse_id(rest).map(ProjectTag::Keyed).map_err(|_| CoreError::InvalidProjectTag(tag.to_string()))
        } else if valid_name(rest) {
            Ok(ProjectTag::Named(rest.to_string()))
        } else {
            Err(CoreError::InvalidProjectTag(tag.to_string()))
        })
    }

    /// The project named by a memory's tags: the first valid project tag.
    pub fn of_tags(tags: &[String]) -> Option<ProjectTag> {
        tags.iter().find_map(|t| ProjectTag::parse(t).and_then(Result::ok))
    }

    /// Checks a memory's tags: every project tag valid, at most one.
    pub fn check_tags(tags: &[String]) -> Result<(), CoreError> {
        let mut n = 0;
        for t in tags {
            if let Some(p) = ProjectTag::parse(t) {
                p?;
                n += 1;
            }
        }
        if n > 1 {
            let all: Vec<&str> = tags.iter().filter(|t| t.starts_with(PROJECT_TAG)).map(String::as_str).collect();
            return Err(CoreError::InvalidProjectTag(all.join(", ")));
        }
        Ok(())
    }

    /// The name shown for it.
    pub fn name(&self) -> &str {
        match self {
            ProjectTag::Keyed(p) => &p.name,
            ProjectTag::Named(n) => n,
        }
    }

    /// Whether a memory of this project holds for a caller in `here` (see
    /// the module docs).
    pub fn holds_in(&self, here: &Here) -> bool {
        match (self, here) {
            (ProjectTag::Keyed(p), Here::Id(q)) => p.key == q.key,
            (ProjectTag::Named(n), Here::Id(q)) => *n == q.name,
            (ProjectTag::Keyed(p), Here::Dir { keys, .. }) => keys.contains(&p.key),
            (ProjectTag::Named(n), Here::Dir { names, .. }) => names.contains(n),
        }
    }
}

impl fmt::Display for ProjectTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProjectTag::Keyed(p) => p.fmt(f),
            ProjectTag::Named(n) => f.write_str(n),
        }
    }
}

/// Where a caller works: a directory (with the keys and names of it and
/// its ancestors below the home directory), or a project id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Here {
    Dir { project: Project, keys: Vec<String>, names: Vec<String> },
    Id(Project),
}

impl Here {
    /// Reads a caller's project: an absolute directory (`/…`, `C:\…`, `\\…`)
    /// or a project id `NAME#KEY`.
    pub fn parse(s: &str) -> Result<Here, CoreError> {
        let s = s.trim();
        let bad = || CoreError::InvalidProject(s.to_string());
        let bytes = s.as_bytes();
        let absolute = s.starts_with('/')
            || s.starts_with("\\\\")
            || (bytes.len() >= 3
                && bytes.first().is_some_and(u8::is_ascii_alphabetic)
                && bytes.get(1) == Some(&b':')
                && matches!(bytes.get(2), Some(b'\\' | b'/')));
        if !absolute {
            return Project::parse_id(s).map(Here::Id);
        }
        let n = normalize_dir(s).ok_or_else(bad)?;
        let project = Project::of_dir(&n).ok_or_else(bad)?;
        let parts: Vec<&str> = n.split('/').filter(|p| !p.is_empty()).collect();
        let lead = if n.starts_with('/') { "/" } else { "" };
        let (mut keys, mut names) = (Vec::new(), Vec::new());
        for len in (1..=parts.len()).rev() {
            let prefix = parts.get(..len).unwrap_or_default();
            if len < parts.len() && is_home(prefix) {
                break;
            }
            keys.push(key_of(&format!("{lead}{}", prefix.join("/"))));
            names.extend(prefix.last().map(|s| s.to_string()));
        }
        Ok(Here::Dir { project, keys, names })
    }

    /// The project the caller is in.
    pub fn project(&self) -> &Project {
        match self {
            Here::Dir { project, .. } | Here::Id(project) => project,
        }
    }
}

/// The working directory recorded in a session's raw records: the first
/// `"cwd"` string value among the first 64 (Claude Code's records, Codex's
/// `session_meta` and `turn_context`).
pub fn recorded_cwd<'a>(raws: impl IntoIterator<Item = &'a str>) -> Option<String> {
    for raw in raws.into_iter().take(64) {
        let Some(p) = raw.find("\"cwd\":\"") else { continue };
        let Some(rest) = raw.get(p + 7..) else { continue };
        let Some(end) = rest.find('"') else { continue };
        let v = rest.get(..end).unwrap_or_default().replace("\\/", "/").replace("\\\\", "\\");
        if !v.trim().is_empty() {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_folders_of_one_name_are_two_projects_with_one_name() {
        let a = Project::of_dir("/home/ana/src/app").unwrap();
        let b = Project::of_dir("/home/ana/old/app").unwrap();
        assert_eq!((a.name.as_str(), b.name.as_str()), ("app", "app"));
        assert_ne!(a.key, b.key);
        assert_eq!(a, Project::of_dir("/home/ana/src/app/").unwrap(), "a trailing / is the same folder");
        assert_eq!(a, Project::of_dir("/home/ana/src/app/.claude/worktrees/x1").unwrap(), "a worktree is its checkout");
        assert_eq!(a, Project::of_dir("/home/ana/src/app/worktrees/feature").unwrap());
        assert_eq!(Project::parse_id(&a.to_string()).unwrap(), a);
        assert_eq!(ProjectTag::parse(&a.tag()), Some(Ok(ProjectTag::Keyed(a.clone()))));
    }

    #[test]
    fn names_never_show_a_home_user_or_an_id() {
        let name = |d: &str| Project::of_dir(d).unwrap().name;
        assert_eq!(name("/Users/ana"), "project");
        assert_eq!(name("C:\\Users\\ana"), "project");
        assert_eq!(name("/tmp/3f2a9c1b0d"), "project");
        assert_eq!(name("/srv/my shop"), "my-shop");
        assert_eq!(name("/Users/ana/danieldemmel.me-next"), "danieldemmel.me-next");
        assert!(Project::of_dir("/").is_none());
        assert!(Project::of_dir("").is_none());
        assert!(!Project::of_dir("/Users/ana/shop").unwrap().to_string().contains("ana"));
    }

    #[test]
    fn tags_have_two_valid_forms_and_at_most_one_per_memory() {
        assert_eq!(ProjectTag::parse("convention"), None);
        assert_eq!(ProjectTag::parse("project:shop"), Some(Ok(ProjectTag::Named("shop".into()))));
        for bad in ["project:", "project:a b", "project:shop#xyz", "project:#0123456789ab", "project:/home/ana/shop"] {
            assert!(matches!(ProjectTag::parse(bad), Some(Err(_))), "{bad}");
        }
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ProjectTag::check_tags(&tags(&["convention", "project:shop#0123456789ab"])).is_ok());
        assert!(ProjectTag::check_tags(&tags(&["project:a", "project:b"])).is_err());
    }

    #[test]
    fn a_memory_holds_in_its_directory_and_below_it_not_elsewhere() {
        let shop = ProjectTag::Keyed(Project::of_dir("/home/ana/src/shop").unwrap());
        let here = |d: &str| Here::parse(d).unwrap();
        assert!(shop.holds_in(&here("/home/ana/src/shop")));
        assert!(shop.holds_in(&here("/home/ana/src/shop/web")));
        assert!(shop.holds_in(&here("/home/ana/src/shop/.claude/worktrees/abc")));
        assert!(!shop.holds_in(&here("/home/ana/old/shop")), "same name, other folder");
        assert!(!shop.holds_in(&here("/home/ana/src")));
        let id = Here::parse(&Project::of_dir("/home/ana/src/shop").unwrap().to_string()).unwrap();
        assert!(shop.holds_in(&id));
        // The home directory is no project of everything under it.
        let home = ProjectTag::Keyed(Project::of_dir("/home/ana").unwrap());
        assert!(home.holds_in(&here("/home/ana")));
        assert!(!home.holds_in(&here("/home/ana/src/shop")));
        // A tag without a key holds where the folder has its name.
        assert!(ProjectTag::Named("shop".into()).holds_in(&here("/srv/shop")));
        assert!(Here::parse("shop").is_err() && Here::parse("relative/dir").is_err());
    }

    #[test]
    fn the_recorded_directory_is_the_first_cwd() {
        let raws = ["{\"type\":\"summary\"}", "{\"cwd\":\"C:\\\\src\\\\shop\",\"x\":1}", "{\"cwd\":\"/other\"}"];
        assert_eq!(recorded_cwd(raws).as_deref(), Some("C:\\src\\shop"));
        assert_eq!(recorded_cwd(["{}"]), None);
    }
}
