//! The `/etc/hosts` and `/etc/resolv.conf` a step sees (bind-mounted read-only, as
//! BuildKit does; never part of the layer).

use super::spec::Network;

/// BuildKit's hosts file: localhost names and the sandbox hostname.
pub fn hosts_file(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// The step's resolv.conf from the host's (`host_conf`, empty when the host has none).
///
/// With the host's network it is the host's file as is (a local resolver such as
/// 127.0.0.53 is reachable). Otherwise, as BuildKit does for a separate network,
/// loopback nameservers are dropped and public defaults used when none remain.
pub fn resolv_conf(host_conf: &str, network: Network) -> String {
    let has_ns = |text: &str| text.lines().any(|l| nameserver(l).is_some());
    if network == Network::Host && has_ns(host_conf) {
        return host_conf.to_string();
    }
    let mut out: Vec<String> = host_conf
        .lines()
        .filter(|l| !nameserver(l).is_some_and(is_loopback))
        .map(str::to_string)
        .collect();
    if !out.iter().any(|l| nameserver(l).is_some()) {
        for ns in [
            "8.8.8.8",
            "8.8.4.4",
            "2001:4860:4860::8888",
            "2001:4860:4860::8844",
        ] {
            out.push(format!("nameserver {ns}"));
        }
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn nameserver(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    (words.next() == Some("nameserver"))
        .then(|| words.next())
        .flatten()
}

fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_the_sandbox() {
        assert_eq!(
            hosts_file("buildkitsandbox"),
            "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
    }

    #[test]
    fn host_network_keeps_the_host_file() {
        let host = "search example.com\nnameserver 127.0.0.53\n";
        assert_eq!(resolv_conf(host, Network::Host), host);
    }

    #[test]
    fn separate_network_drops_loopback_resolvers() {
        let host = "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n";
        assert_eq!(
            resolv_conf(host, Network::None),
            "search example.com\nnameserver 10.0.0.2\n"
        );
        let only_local = "nameserver 127.0.0.1\noptions ndots:1\n";
        let out = resolv_conf(only_local, Network::None);
        assert!(
            out.starts_with("options ndots:1\nnameserver 8.8.8.8\n"),
            "{out}"
        );
        assert!(resolv_conf("", Network::Host).contains("nameserver 8.8.8.8"));
    }
}
