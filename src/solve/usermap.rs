//! User and group names in the image: `COPY --chown=user:group` and the owner of
//! directories WORKDIR creates, looked up in the image's `/etc/passwd` and `/etc/group`
//! (never the host's).

use super::error::{SolveError, SolveErrorKind};
use crate::layer::view::LayerView;
use crate::sandbox::resolve_user;

fn read(view: &LayerView, path: &str) -> Option<String> {
    view.read_file(path)
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn passwd_entry<'a>(passwd: &'a str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&'a str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == name)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

fn group_gid(group: &str, name: &str) -> Option<u32> {
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// `--chown=user[:group]` as BuildKit reads it: a name takes its uid and primary gid
/// from `/etc/passwd`, a number is both uid and gid; a group, when given, sets the gid.
pub(crate) fn chown_ids(spec: &str, view: &LayerView) -> Result<(u32, u32), SolveError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let not_found = |what: &str, name: &str| {
        SolveError::new(SolveErrorKind::User(format!(
            "unable to find {what} {name:?} in the image (--chown={spec})"
        )))
    };
    let (uid, mut gid) = if user.is_empty() {
        (0, 0)
    } else if let Ok(n) = user.parse::<u32>() {
        (n, n)
    } else {
        let passwd = read(view, "/etc/passwd").unwrap_or_default();
        passwd_entry(&passwd, user).ok_or_else(|| not_found("user", user))?
    };
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let groups = read(view, "/etc/group").unwrap_or_default();
                group_gid(&groups, g).ok_or_else(|| not_found("group", g))?
            }
        };
    }
    Ok((uid, gid))
}

/// The uid and gid of `USER` (name or `uid[:gid]`) in the image; root for an empty one.
pub(crate) fn user_ids(spec: &str, view: &LayerView) -> Result<(u32, u32), SolveError> {
    if spec.is_empty() {
        return Ok((0, 0));
    }
    let passwd = read(view, "/etc/passwd");
    let group = read(view, "/etc/group");
    resolve_user(spec, passwd.as_deref(), group.as_deref())
        .map(|u| (u.uid, u.gid))
        .map_err(|e| SolveError::new(SolveErrorKind::User(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view_with(passwd: &str, group: &str) -> (tempfile::TempDir, LayerView) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(d.path().join("etc/group"), group).unwrap();
        let v = LayerView::new(vec![d.path().to_path_buf()]);
        (d, v)
    }

    #[test]
    fn chown_rules() {
        let (_d, v) = view_with(
            "root:x:0:0::/root:/bin/sh\napp:x:1000:2000::/home/app:/bin/sh\n",
            "root:x:0:\nstaff:x:50:app\n",
        );
        assert_eq!(chown_ids("app", &v).unwrap(), (1000, 2000));
        assert_eq!(chown_ids("55", &v).unwrap(), (55, 55));
        assert_eq!(chown_ids("55:66", &v).unwrap(), (55, 66));
        assert_eq!(chown_ids("app:staff", &v).unwrap(), (1000, 50));
        assert_eq!(chown_ids("1:staff", &v).unwrap(), (1, 50));
        let e = chown_ids("nobody-here", &v).unwrap_err();
        assert!(e.to_string().contains("nobody-here"), "{e}");
        assert!(chown_ids("app:nogroup", &v).is_err());
    }
}
