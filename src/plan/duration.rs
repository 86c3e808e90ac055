//! Go's `time.ParseDuration`, for HEALTHCHECK's `--interval`, `--timeout`,
//! `--start-period` and `--start-interval` (stored in nanoseconds, as Docker does).

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_while},
    character::complete::one_of,
    combinator::opt,
};

/// One `<number><unit>` piece: integer digits, fraction digits, nanoseconds per unit.
fn piece(s: &str) -> IResult<&str, (&str, &str, u128)> {
    let (s, int) = take_while(|c: char| c.is_ascii_digit()).parse(s)?;
    let (s, frac) = opt((tag("."), take_while(|c: char| c.is_ascii_digit()))).parse(s)?;
    let frac = frac.map_or("", |(_, f)| f);
    let (s, unit) = alt((
        tag("ns"),
        tag("us"),
        tag("µs"),
        tag("μs"),
        tag("ms"),
        tag("s"),
        tag("m"),
        tag("h"),
    ))
    .parse(s)?;
    let scale = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        _ => 3_600_000_000_000,
    };
    Ok((s, (int, frac, scale)))
}

/// Parses a Go duration (`1m30s`, `1.5h`, `300ms`, `0`) into nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let err = || {
        format!(
            "time: invalid duration {}",
            crate::dockerfile::goquote(text)
        )
    };
    let (mut rest, sign) = opt(one_of::<_, _, nom::error::Error<&str>>("+-"))
        .parse(text)
        .map_err(|_| err())?;
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (r, (int, frac, scale)) = piece(rest).map_err(|_| err())?;
        if int.is_empty() && frac.is_empty() {
            return Err(err());
        }
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err())?
        };
        let mut ns = whole.checked_mul(scale).ok_or_else(err)?;
        let mut div = 1u128;
        let mut f = 0u128;
        for d in frac.chars().take(30) {
            f = f * 10 + u128::from(d.to_digit(10).unwrap_or(0));
            div *= 10;
        }
        ns += f * scale / div;
        total = total.checked_add(ns).ok_or_else(err)?;
        rest = r;
    }
    let total = i64::try_from(total).map_err(|_| err())?;
    Ok(if sign == Some('-') { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_duration("2us"), Ok(2_000));
        assert_eq!(parse_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("-1s"), Ok(-1_000_000_000));
        for bad in ["", "1", "s", "1x", "1.s.", "abc", "-", "99999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("1x").unwrap_err(),
            r#"time: invalid duration "1x""#
        );
    }
}
