//! nginx's cookie date (`ngx.cookie_time`), the format of a session cookie's `Expires`:
//! `Thu, 18-Nov-10 11:27:35 GMT`, with a two-digit year until 2037 and four digits after (nginx's
//! concession to Netscape 3).

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats `unix_seconds` (seconds since 1970-01-01 UTC; negative values clamp to the epoch).
pub fn format(unix_seconds: i64) -> String {
    let seconds = unix_seconds.max(0);
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[(days % 7) as usize];
    let year_text = if year > 2037 {
        year.to_string()
    } else {
        format!("{:02}", year % 100)
    };
    format!(
        "{weekday}, {day:02}-{}-{year_text} {:02}:{:02}:{:02} GMT",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 -> (year, month 1-12, day 1-31), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn formats_as_nginx_does() {
        assert_eq!(format(0), "Thu, 01-Jan-70 00:00:00 GMT");
        // lua-resty-cookie's documented example date.
        assert_eq!(format(1_290_079_655), "Thu, 18-Nov-10 11:27:35 GMT");
        assert_eq!(format(951_782_400), "Tue, 29-Feb-00 00:00:00 GMT");
        assert_eq!(format(1_798_761_600), "Fri, 01-Jan-27 00:00:00 GMT");
        // After 2037 the year has four digits.
        assert_eq!(format(2_145_916_800), "Fri, 01-Jan-2038 00:00:00 GMT");
        assert_eq!(format(-5), "Thu, 01-Jan-70 00:00:00 GMT");
    }
}
