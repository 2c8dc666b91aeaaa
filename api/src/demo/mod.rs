//! The demo catalog: three venues with real seat layouts, thirty cast members and twenty
//! performances with sessions over the coming weeks, loaded into an empty database so that
//! a fresh `cargo run` has something to browse, search and book.
//!
//! The data lives in `catalog.toml` beside this file and goes through the same domain
//! functions as the admin API, so the demo can never hold data the API would refuse.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, bail};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use entity::{Genre, venue};
use sea_orm::{DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait};
use serde::Deserialize;

pub use door::DemoLogin;

use crate::config::AuthSettings;
use crate::domain::{box_office_offset, cast, performances, sessions, venues};

mod bulk;
mod door;

const CATALOG: &str = include_str!("catalog.toml");

/// How far ahead sessions are scheduled.
const SCHEDULE_DAYS: i64 = 21;

#[derive(Debug, Deserialize)]
struct Catalog {
    venues: Vec<VenueData>,
    cast: Vec<CastData>,
    performances: Vec<PerformanceData>,
}

#[derive(Debug, Deserialize)]
struct VenueData {
    key: String,
    name: String,
    address: String,
    region: String,
    sections: Vec<SectionData>,
}

#[derive(Debug, Deserialize)]
struct SectionData {
    name: String,
    rows: Vec<RowsData>,
}

#[derive(Debug, Deserialize)]
struct RowsData {
    /// One label ("A") or an inclusive range ("A-E", "1-10").
    labels: String,
    seats: i32,
    grade: String,
    #[serde(default)]
    accessible: Vec<i32>,
}

#[derive(Debug, Deserialize)]
struct CastData {
    key: String,
    name: String,
    english_name: Option<String>,
    bio: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PerformanceData {
    title: String,
    english_title: Option<String>,
    genre: Genre,
    description: String,
    minimum_age: i64,
    running_minutes: i64,
    venue: String,
    starts_in_days: i64,
    runs_for_days: i64,
    prices: BTreeMap<String, i64>,
    cast: Vec<RoleData>,
}

#[derive(Debug, Deserialize)]
struct RoleData {
    member: String,
    role: String,
}

/// What was loaded, for the log line.
#[derive(Debug, Default)]
pub struct Seeded {
    pub venues: usize,
    pub cast_members: usize,
    pub performances: usize,
    pub sessions: usize,
    /// The demo buyer and door staffer, with their one-time passwords.
    pub logins: Vec<DemoLogin>,
}

impl Seeded {
    /// Logs what was loaded, and shows the demo log-ins on the terminal (standard error, not
    /// the log: their passwords must not reach a log pipeline, and are nowhere else).
    pub fn log(&self) {
        tracing::info!(
            venues = self.venues,
            cast_members = self.cast_members,
            performances = self.performances,
            sessions = self.sessions,
            "the database was empty: loaded the demo catalog"
        );
        for login in &self.logins {
            eprintln!(
                "Demo log-in ({:?}): {} / {}  (shown once; the buyer has four tickets for the first show, \
                 the door account scans them)",
                login.role, login.email, login.password
            );
        }
    }
}

/// True when the catalog has no venue yet.
pub async fn catalog_is_empty(db: &DatabaseConnection) -> anyhow::Result<bool> {
    Ok(venue::Entity::find().count(db).await? == 0)
}

/// Loads the demo catalog in one transaction, dated relative to `today` (Korean calendar),
/// and on SQLite (the embedded demo) a paid booking for the first show and a door account to
/// scan its tickets.
pub async fn seed(db: &DatabaseConnection, auth: &AuthSettings) -> anyhow::Result<Seeded> {
    let catalog: Catalog = toml::from_str(CATALOG).context("the built-in demo catalog is malformed")?;
    let today = Utc::now().with_timezone(&box_office_offset()).date_naive();
    let txn = crate::db::begin_write(db).await?;
    let keys = bulk::SuspendedKeys::suspend(&txn).await?;
    let mut seeded = Seeded::default();
    let mut first_show = None;

    let mut venue_ids = HashMap::new();
    for data in catalog.venues {
        let layout = venues::LayoutSpec {
            sections: data
                .sections
                .into_iter()
                .map(|section| {
                    let mut rows = Vec::new();
                    for group in section.rows {
                        for label in expand_labels(&group.labels)? {
                            rows.push(venues::RowSpec {
                                label,
                                seat_count: group.seats,
                                grade: group.grade.clone(),
                                accessible_seats: group.accessible.clone(),
                            });
                        }
                    }
                    Ok(venues::SectionSpec {
                        name: section.name,
                        rows,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let venue = venues::create_venue(
            &txn,
            venues::NewVenue {
                name: data.name,
                address: data.address,
                region: data.region,
                layout,
            },
        )
        .await
        .map_err(|e| e.into_anyhow().context(format!("demo venue {}", data.key)))?;
        venue_ids.insert(data.key, venue.id);
        seeded.venues += 1;
    }

    let mut cast_ids = HashMap::new();
    for data in catalog.cast {
        let member = cast::create_cast_member(
            &txn,
            cast::CastMemberFields {
                name: Some(data.name),
                english_name: data.english_name,
                bio: data.bio,
            },
        )
        .await
        .map_err(|e| e.into_anyhow().context(format!("demo cast member {}", data.key)))?;
        cast_ids.insert(data.key, member.id);
        seeded.cast_members += 1;
    }

    for data in catalog.performances {
        let venue_id = *venue_ids
            .get(&data.venue)
            .with_context(|| format!("unknown demo venue {}", data.venue))?;
        let start_date = today + Duration::days(data.starts_in_days);
        let end_date = start_date + Duration::days(data.runs_for_days - 1);
        let performance = performances::create_performance(
            &txn,
            performances::PerformanceFields {
                title: Some(data.title.clone()),
                english_title: data.english_title,
                description: Some(data.description),
                genre: Some(data.genre),
                minimum_age: Some(data.minimum_age),
                running_minutes: Some(data.running_minutes),
                start_date: Some(start_date),
                end_date: Some(end_date),
                venue_id: Some(venue_id),
            },
        )
        .await
        .map_err(|e| e.into_anyhow().context(format!("demo performance {}", data.title)))?;
        seeded.performances += 1;

        for (order, role) in data.cast.into_iter().enumerate() {
            let member = *cast_ids
                .get(&role.member)
                .with_context(|| format!("unknown demo cast member {}", role.member))?;
            cast::add_role(
                &txn,
                cast::NewRole {
                    performance_id: performance.id,
                    cast_member_id: member,
                    role: role.role,
                    billing_order: order as i64,
                },
            )
            .await
            .map_err(|e| e.into_anyhow().context(format!("demo role in {}", data.title)))?;
        }

        let prices: Vec<(String, i64)> = data.prices.into_iter().collect();
        for starts_at in show_times(today, start_date, end_date) {
            let session = sessions::create_session(
                &txn,
                sessions::NewSession {
                    performance_id: performance.id,
                    starts_at,
                    sales_open_at: Some(Utc::now() - Duration::days(1)),
                    sales_close_at: None,
                    prices: prices.clone(),
                },
            )
            .await
            .map_err(|e| e.into_anyhow().context(format!("demo session of {}", data.title)))?;
            seeded.sessions += 1;
            if first_show.is_none_or(|(first, _)| starts_at < first) {
                first_show = Some((starts_at, session.id));
            }
        }
    }
    // Accounts only for the embedded demo (SQLite): a fresh PostgreSQL database is more
    // likely a real deployment's, which must not start with log-ins it did not make.
    if let (Some((_, session_id)), DbBackend::Sqlite) = (first_show, db.get_database_backend()) {
        seeded.logins = door::seed(&txn, auth, session_id).await.context("the demo booking")?;
    }
    keys.restore(&txn).await.context("checking the demo's seat rows")?;
    txn.commit().await?;
    Ok(seeded)
}

/// Show times over the next three weeks within the run: evenings at 19:30 every fourth day
/// and 14:00 matinees on Saturdays, so that every performance has a handful of sessions.
fn show_times(today: NaiveDate, start: NaiveDate, end: NaiveDate) -> Vec<chrono::DateTime<Utc>> {
    let evening = NaiveTime::from_hms_opt(19, 30, 0).unwrap_or_default();
    let matinee = NaiveTime::from_hms_opt(14, 0, 0).unwrap_or_default();
    let first = start.max(today + Duration::days(1));
    let last = end.min(today + Duration::days(SCHEDULE_DAYS));
    let mut times = Vec::new();
    let mut day = first;
    let mut index = 0;
    while day <= last {
        if day.weekday() == Weekday::Sat {
            times.push(day.and_time(matinee));
        }
        if index % 4 == 0 {
            times.push(day.and_time(evening));
        }
        day += Duration::days(1);
        index += 1;
    }
    times
        .into_iter()
        .filter_map(|local| box_office_offset().from_local_datetime(&local).single())
        .map(|t| t.with_timezone(&Utc))
        .collect()
}

/// "A-E" → A, B, C, D, E; "1-3" → 1, 2, 3; "VIP" → VIP.
fn expand_labels(labels: &str) -> anyhow::Result<Vec<String>> {
    let Some((from, to)) = labels.split_once('-') else {
        return Ok(vec![labels.to_string()]);
    };
    if let (Ok(from), Ok(to)) = (from.parse::<u32>(), to.parse::<u32>()) {
        return Ok((from..=to).map(|n| n.to_string()).collect());
    }
    let (mut from_chars, mut to_chars) = (from.chars(), to.chars());
    match (from_chars.next(), from_chars.next(), to_chars.next(), to_chars.next()) {
        (Some(a), None, Some(b), None) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && a <= b => {
            Ok((a..=b).map(String::from).collect())
        }
        _ => bail!("row labels {labels:?} are neither one label nor a range like A-E or 1-10"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_label_ranges_expand() -> anyhow::Result<()> {
        assert_eq!(expand_labels("A-C")?, vec!["A", "B", "C"]);
        assert_eq!(expand_labels("8-10")?, vec!["8", "9", "10"]);
        assert_eq!(expand_labels("VIP")?, vec!["VIP"]);
        assert!(expand_labels("C-A").is_err());
        Ok(())
    }

    #[test]
    fn the_demo_catalog_parses_and_is_big_enough() -> anyhow::Result<()> {
        let catalog: Catalog = toml::from_str(CATALOG)?;
        assert!(catalog.venues.len() >= 3);
        assert!(catalog.cast.len() >= 30);
        assert!(catalog.performances.len() >= 20);
        Ok(())
    }

    #[test]
    fn every_performance_gets_sessions_in_the_coming_weeks() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        let times = show_times(today, today - Duration::days(10), today + Duration::days(60));
        assert!(times.len() >= 5, "{} sessions", times.len());
        assert!(times.iter().all(|t| t.date_naive() > today));
    }
}
