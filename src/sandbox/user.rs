//! `USER` resolution against the image's `/etc/passwd` and `/etc/group`, with the rules
//! BuildKit applies (its `GetUser` over `moby/sys/user.GetExecUser`):
//!
//! - `uid:gid` with both parts numeric (or `root`) is taken as is, no lookup;
//! - a name must exist in passwd (`unable to find user foo: no matching entries in
//!   passwd file`); a number need not (gid 0 then);
//! - an explicit group sets the primary gid (a name must exist in group); without one,
//!   the passwd gid is used and every group listing the user becomes supplementary;
//! - the primary gid always heads the supplementary list;
//! - `HOME` (when the step's env has none) is the passwd home of the uid, else `/`, as
//!   runc sets it.

/// The identity a step runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Supplementary groups, the primary first.
    pub groups: Vec<u32>,
    /// Home directory.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

fn passwd(text: Option<&str>) -> Vec<PasswdEntry<'_>> {
    records(text.unwrap_or(""))
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or(""),
            })
        })
        .collect()
}

fn groups(text: Option<&str>) -> Vec<GroupEntry<'_>> {
    records(text.unwrap_or(""))
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first()?,
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A numeric id, or `root` (BuildKit's `parseUID`).
fn parse_id(s: &str) -> Option<u32> {
    if s == "root" { Some(0) } else { s.parse().ok() }
}

/// Resolves `spec` (a `USER` value) against the rootfs' passwd and group files
/// (`None` when a file is missing). The error text is BuildKit's.
pub fn resolve_user(
    spec: &str,
    passwd_text: Option<&str>,
    group_text: Option<&str>,
) -> Result<ExecUser, String> {
    let users = passwd(passwd_text);
    let home_of = |uid: u32| {
        users
            .iter()
            .find(|u| u.uid == uid)
            .map(|u| u.home.to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".to_string())
    };
    let finish = |uid: u32, gid: u32, mut sgids: Vec<u32>, home: String| {
        if !sgids.contains(&gid) {
            sgids.insert(0, gid);
        }
        ExecUser {
            uid,
            gid,
            groups: sgids,
            home,
        }
    };
    let (spec, is_default) = if spec.is_empty() {
        ("0", true)
    } else {
        (spec, false)
    };
    if let Some((u, g)) = spec.split_once(':')
        && let (Some(uid), Some(gid)) = (parse_id(u), parse_id(g))
    {
        return Ok(finish(uid, gid, Vec::new(), home_of(uid)));
    }
    match exec_user(spec, &users, &groups(group_text)) {
        Ok((uid, gid, sgids, home)) => {
            let home = home
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| home_of(uid));
            Ok(finish(uid, gid, sgids, home))
        }
        Err(_) if is_default => Ok(finish(0, 0, Vec::new(), home_of(0))),
        Err(e) => Err(e),
    }
}

/// `GetExecUser` with all-zero defaults: (uid, gid, supplementary gids, home).
fn exec_user(
    spec: &str,
    users: &[PasswdEntry<'_>],
    groups: &[GroupEntry<'_>],
) -> Result<(u32, u32, Vec<u32>, Option<String>), String> {
    let (user_arg, group_arg) = spec.split_once(':').unwrap_or((spec, ""));
    let uid_arg: Option<u32> = user_arg.parse().ok();
    let gid_arg: Option<u32> = group_arg.parse().ok();

    let matched = users.iter().find(|u| match (user_arg, uid_arg) {
        ("", _) => u.uid == 0,
        (_, Some(n)) => u.uid == n,
        (name, None) => u.name == name,
    });
    let (mut uid, mut gid, mut home, mut name) = (0, 0, None::<String>, None);
    if let Some(u) = matched {
        (uid, gid, home, name) = (u.uid, u.gid, Some(u.home.to_string()), Some(u.name));
    } else if !user_arg.is_empty() {
        match uid_arg {
            Some(n) => uid = n,
            None => {
                return Err(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                ));
            }
        }
    }

    let mut sgids = Vec::new();
    if !group_arg.is_empty() || name.is_some() {
        let found: Vec<&GroupEntry<'_>> = groups
            .iter()
            .filter(|g| match (group_arg, gid_arg) {
                ("", _) => name.is_some_and(|n| g.members.contains(&n)),
                (_, Some(n)) => g.gid == n,
                (gname, None) => g.name == gname,
            })
            .collect();
        if !group_arg.is_empty() {
            match (found.first(), gid_arg) {
                (Some(g), _) => gid = g.gid,
                (None, Some(n)) => gid = n,
                (None, None) => {
                    return Err(format!(
                        "unable to find group {group_arg}: no matching entries in group file"
                    ));
                }
            }
        } else {
            sgids = found.iter().map(|g| g.gid).collect();
        }
    }
    Ok((uid, gid, sgids, home))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nbuilder:x:1000:1000::/home/builder:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:builder,other\nbuilder:x:1000:\nstaff:x:50:\nnogroup:x:65534:\n";

    fn r(spec: &str) -> Result<ExecUser, String> {
        resolve_user(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn root_by_default() {
        let u = r("").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.as_slice(), u.home.as_str()),
            (0, 0, &[0][..], "/root")
        );
    }

    #[test]
    fn name_gets_passwd_gid_and_member_groups() {
        let u = r("builder").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.groups, [1000, 10]);
        assert_eq!(u.home, "/home/builder");
    }

    #[test]
    fn numeric_uid_is_looked_up_but_need_not_exist() {
        let u = r("1000").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone()),
            (1000, 1000, vec![1000, 10])
        );
        let u = r("4242").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone(), u.home.as_str()),
            (4242, 0, vec![0], "/")
        );
    }

    #[test]
    fn uid_gid_pair_skips_lookup() {
        let u = r("1000:50").unwrap();
        assert_eq!((u.uid, u.gid, u.groups.clone()), (1000, 50, vec![50]));
        assert_eq!(u.home, "/home/builder");
        let u = r("root:root").unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
    }

    #[test]
    fn explicit_group_by_name() {
        let u = r("builder:staff").unwrap();
        assert_eq!((u.uid, u.gid, u.groups.clone()), (1000, 50, vec![50]));
        assert_eq!(
            r("builder:nope").unwrap_err(),
            "unable to find group nope: no matching entries in group file"
        );
    }

    #[test]
    fn unknown_user_is_buildkits_error() {
        assert_eq!(
            r("foo").unwrap_err(),
            "unable to find user foo: no matching entries in passwd file"
        );
        assert_eq!(
            resolve_user("foo", None, None).unwrap_err(),
            "unable to find user foo: no matching entries in passwd file"
        );
    }

    #[test]
    fn missing_files_still_allow_numeric_users() {
        let u = resolve_user("5", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (5, 0, "/"));
        let u = resolve_user("", None, None).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
    }
}
