//! EXPOSE port specs, normalised as BuildKit does: `80` → `80/tcp`, `53/UDP` →
//! `53/udp`, `8000-8002` → three ports, `[ip:]host:container` keeps the container part.

/// Expands one spec into `port/proto` entries.
pub fn parse_port(raw: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => {
            let n = parts.len();
            (
                &raw[..raw.len() - parts[n - 1].len() - parts[n - 2].len() - 2],
                parts[n - 2],
                parts[n - 1],
            )
        }
    };
    let invalid = |e: &str| format!("invalid port: {}: {e}", crate::dockerfile::goquote(raw));
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(invalid("no port specified"));
    }
    let proto = match proto.to_lowercase().as_str() {
        "" => "tcp".to_string(),
        p @ ("tcp" | "udp" | "sctp") => p.to_string(),
        _ => return Err(invalid(&format!("invalid proto: {proto}"))),
    };
    if !ip.is_empty() {
        let bare = ip.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("invalid IP address: {ip}"));
        }
    }
    let (start, end) = range(port).map_err(|_| format!("invalid containerPort: {port}"))?;
    if !host.is_empty() {
        let (hs, he) = range(host).map_err(|_| format!("invalid hostPort: {host}"))?;
        if end - start != he - hs && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {port} and {host}"
            ));
        }
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn range(ports: &str) -> Result<(u32, u32), ()> {
    let (start, end) = match ports.split_once('-') {
        Some((s, e)) => (s, Some(e)),
        None => (ports, None),
    };
    let num = |s: &str| -> Result<u32, ()> {
        let n: u32 = s.parse().map_err(|_| ())?;
        if n > 65535 { Err(()) } else { Ok(n) }
    };
    let s = num(start)?;
    match end {
        None => Ok((s, s)),
        Some(e) if e == start => Ok((s, s)),
        Some(e) => {
            let e = num(e)?;
            if e < s { Err(()) } else { Ok((s, e)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        assert_eq!(parse_port("80").unwrap(), ["80/tcp"]);
        assert_eq!(parse_port("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(
            parse_port("8000-8002/sctp").unwrap(),
            ["8000/sctp", "8001/sctp", "8002/sctp"]
        );
        assert_eq!(parse_port("8080:80").unwrap(), ["80/tcp"]);
        assert_eq!(parse_port("127.0.0.1:8080:80/udp").unwrap(), ["80/udp"]);
        assert_eq!(parse_port("[::1]:8080:80").unwrap(), ["80/tcp"]);
        assert!(parse_port("80/xyz").is_err());
        assert!(parse_port("abc").is_err());
        assert!(parse_port("70000").is_err());
        assert!(parse_port("90-80").is_err());
        assert!(parse_port("/tcp").is_err());
        assert!(parse_port("1.2.3:80:80").is_err());
    }
}
