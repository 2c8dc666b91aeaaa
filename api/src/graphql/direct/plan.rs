//! Compiling a document into a [`Plan`]: the response keys to write, in selection order,
//! and what fills each, for the catalog read below `performances`. A document with anything
//! else in it compiles to nothing and is left to the executor.

use std::cell::Cell;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value};

use super::rows::{CastColumns, SessionColumns};

/// `performances(first:)` and what is selected below it.
pub struct Plan {
    /// The root field's response key, written as `"key":`.
    pub key: Box<str>,
    pub first: First,
    pub connection: Fields<ConnectionField>,
    /// The relations any performance's selection reaches.
    pub needs: Needs,
}

/// The `first` argument of the root field.
pub enum First {
    /// Not given, or given as `null`.
    Absent,
    Literal(i32),
    Variable {
        name: Name,
        default: Option<Value>,
        /// Declared non-null (`Int!`): leaving it out is the executor's error to give.
        required: bool,
    },
}

/// One key of an object's answer: its response key (alias or name), written as `"key":`,
/// and the field that fills it.
pub struct Entry<F> {
    pub key: Box<str>,
    pub field: F,
}

/// An object's keys in the order they were first selected (GraphQL spec §7.2.2).
pub type Fields<F> = Vec<Entry<F>>;

/// The relations a plan reads (in one statement for the whole page) and their columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub cast: bool,
    pub sessions: bool,
    pub cast_columns: CastColumns,
    pub session_columns: SessionColumns,
}

pub enum ConnectionField {
    Typename,
    PageInfo(Fields<PageInfoField>),
    Edges(Fields<EdgeField>),
    Nodes(Fields<PerformanceField>),
}

pub enum EdgeField {
    Typename,
    Cursor,
    Node(Fields<PerformanceField>),
}

pub enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

pub enum PerformanceField {
    Typename,
    Id,
    Title,
    EnglishTitle,
    Description,
    Genre,
    MinimumAge,
    RunningMinutes,
    StartDate,
    EndDate,
    PosterUrl,
    AverageRating,
    ReviewCount,
    CreatedAt,
    UpdatedAt,
    Venue(Fields<VenueField>),
    Cast(Fields<CastRoleField>),
    Sessions(Fields<SessionField>),
    PriceTiers(Fields<PriceTierField>),
}

pub enum VenueField {
    Typename,
    Id,
    Name,
    Address,
    Region,
    SeatCount,
}

pub enum CastRoleField {
    Typename,
    Id,
    Role,
    BillingOrder,
    CastMember(Fields<CastMemberField>),
}

pub enum CastMemberField {
    Typename,
    Id,
    Name,
    EnglishName,
    Bio,
}

pub enum SessionField {
    Typename,
    Id,
    StartsAt,
    SalesOpenAt,
    SalesCloseAt,
    Status,
    SaleState,
    AvailableSeatCount,
    TotalSeatCount,
}

pub enum PriceTierField {
    Typename,
    Grade,
    Price,
}

/// An object type a plan can write.
trait Object: Sized {
    /// The schema's name of the type, which fragments name in their condition.
    const NAME: &'static str;
    /// What `__typename` writes.
    const TYPENAME: Self;
    /// The field `name` (selecting `below`), when a plan can write it.
    fn field(name: &str, below: &SelectionSet, compiler: &Compiler) -> Option<Self>;
}

/// Compiles the operation `operation_name` (or the only one) of a document that the schema
/// has validated. `None` when anything in it is beyond a plan.
pub fn compile(document: &ExecutableDocument, operation_name: Option<&str>) -> Option<Plan> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => &operation.node,
        (DocumentOperations::Multiple(operations), Some(name)) => &operations.get(name)?.node,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    if operation.ty != OperationType::Query || !operation.directives.is_empty() {
        return None;
    }
    // The root: `performances` alone, with no argument but `first`.
    let [item] = operation.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &item.node else {
        return None;
    };
    let field = &field.node;
    if field.name.node != "performances" || !field.directives.is_empty() {
        return None;
    }
    // A variable used anywhere but `first` (even in a selection a literal condition skips:
    // the executor checks every use) is the executor's to check.
    let first_variable = field.arguments.iter().find_map(|(name, value)| match &value.node {
        value if name.node == "first" => value.clone().into_const_with(Err).err(),
        _ => None,
    });
    if operation
        .variable_definitions
        .iter()
        .any(|definition| Some(&definition.node.name.node) != first_variable.as_ref())
    {
        return None;
    }
    let mut first = First::Absent;
    for (name, value) in &field.arguments {
        if name.node != "first" {
            return None;
        }
        // A literal, or (the error) the variable it is.
        first = match value.node.clone().into_const_with(Err) {
            Ok(Value::Null) => First::Absent,
            Ok(Value::Number(number)) => First::Literal(i32::try_from(number.as_i64()?).ok()?),
            Ok(_) => return None,
            Err(variable) => {
                let definition = operation
                    .variable_definitions
                    .iter()
                    .find(|definition| definition.node.name.node == variable)?;
                First::Variable {
                    name: variable,
                    default: definition.node.default_value.as_ref().map(|value| value.node.clone()),
                    required: !definition.node.var_type.node.nullable,
                }
            }
        };
    }
    let compiler = Compiler {
        document,
        needs: Cell::default(),
    };
    let connection = compiler.object::<ConnectionField>(&field.selection_set.node)?;
    Some(Plan {
        key: written_key(field.response_key().node.as_str()),
        first,
        connection,
        needs: compiler.needs.get(),
    })
}

struct Compiler<'a> {
    document: &'a ExecutableDocument,
    needs: Cell<Needs>,
}

impl Compiler<'_> {
    fn need(&self, add: impl FnOnce(&mut Needs)) {
        let mut needs = self.needs.get();
        add(&mut needs);
        self.needs.set(needs);
    }

    /// The keys of an object of type `F`, collected as the spec's `CollectFields` does:
    /// fragments in place, `@skip`/`@include` applied, a key selected twice kept where it
    /// first appears.
    fn object<F: Object>(&self, set: &SelectionSet) -> Option<Fields<F>> {
        let mut fields = Vec::new();
        self.collect(set, &mut fields, 0)?;
        // Every field skipped: the executor answers such an object `null`, not `{}`.
        (!fields.is_empty()).then_some(fields)
    }

    fn collect<F: Object>(&self, set: &SelectionSet, fields: &mut Fields<F>, depth: usize) -> Option<()> {
        // Validation refuses fragment cycles; this only bounds the work.
        if depth > 32 {
            return None;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if !included(&field.directives)? {
                        continue;
                    }
                    if !field.arguments.is_empty() {
                        return None;
                    }
                    let key = written_key(field.response_key().node.as_str());
                    if fields.iter().any(|entry| entry.key == key) {
                        // Validation makes a key selected again the same field. A leaf is
                        // written once; an object's two selections would have to be merged.
                        if field.selection_set.node.items.is_empty() {
                            continue;
                        }
                        return None;
                    }
                    let name = field.name.node.as_str();
                    let field = if name == "__typename" {
                        F::TYPENAME
                    } else {
                        F::field(name, &field.selection_set.node, self)?
                    };
                    fields.push(Entry { key, field });
                }
                Selection::FragmentSpread(spread) => {
                    if !included(&spread.node.directives)? {
                        continue;
                    }
                    let fragment = &self.document.fragments.get(&spread.node.fragment_name.node)?.node;
                    if fragment.type_condition.node.on.node != F::NAME || !fragment.directives.is_empty() {
                        return None;
                    }
                    self.collect(&fragment.selection_set.node, fields, depth + 1)?;
                }
                Selection::InlineFragment(inline) => {
                    if !included(&inline.node.directives)? {
                        continue;
                    }
                    if let Some(condition) = &inline.node.type_condition
                        && condition.node.on.node != F::NAME
                    {
                        return None;
                    }
                    self.collect(&inline.node.selection_set.node, fields, depth + 1)?;
                }
            }
        }
        Some(())
    }
}

/// Whether `@skip`/`@include` let a selection in; `None` for any other directive, or a
/// condition a variable decides (left to the executor).
fn included(directives: &[Positioned<Directive>]) -> Option<bool> {
    let mut included = true;
    for directive in directives {
        let [(argument, value)] = directive.node.arguments.as_slice() else {
            return None;
        };
        let Some(Value::Boolean(condition)) = value.node.clone().into_const() else {
            return None;
        };
        if argument.node != "if" {
            return None;
        }
        match directive.node.name.node.as_str() {
            "skip" => included &= !condition,
            "include" => included &= condition,
            _ => return None,
        }
    }
    Some(included)
}

/// `"key":`. Response keys are GraphQL names (`[_A-Za-z][_0-9A-Za-z]*`), never escaped.
fn written_key(key: &str) -> Box<str> {
    format!("\"{key}\":").into_boxed_str()
}

impl Object for ConnectionField {
    const NAME: &'static str = "PerformanceConnection";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, below: &SelectionSet, compiler: &Compiler) -> Option<Self> {
        Some(match name {
            "pageInfo" => Self::PageInfo(compiler.object(below)?),
            "edges" => Self::Edges(compiler.object(below)?),
            "nodes" => Self::Nodes(compiler.object(below)?),
            _ => return None,
        })
    }
}

impl Object for EdgeField {
    const NAME: &'static str = "PerformanceEdge";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, below: &SelectionSet, compiler: &Compiler) -> Option<Self> {
        Some(match name {
            "cursor" => Self::Cursor,
            "node" => Self::Node(compiler.object(below)?),
            _ => return None,
        })
    }
}

impl Object for PageInfoField {
    const NAME: &'static str = "PageInfo";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, _: &SelectionSet, _: &Compiler) -> Option<Self> {
        Some(match name {
            "hasPreviousPage" => Self::HasPreviousPage,
            "hasNextPage" => Self::HasNextPage,
            "startCursor" => Self::StartCursor,
            "endCursor" => Self::EndCursor,
            _ => return None,
        })
    }
}

impl Object for PerformanceField {
    const NAME: &'static str = "Performance";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, below: &SelectionSet, compiler: &Compiler) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "title" => Self::Title,
            "englishTitle" => Self::EnglishTitle,
            "description" => Self::Description,
            "genre" => Self::Genre,
            "minimumAge" => Self::MinimumAge,
            "runningMinutes" => Self::RunningMinutes,
            "startDate" => Self::StartDate,
            "endDate" => Self::EndDate,
            "posterUrl" => Self::PosterUrl,
            "averageRating" => Self::AverageRating,
            "reviewCount" => Self::ReviewCount,
            "createdAt" => Self::CreatedAt,
            "updatedAt" => Self::UpdatedAt,
            // The page comes with its venues and price tiers.
            "venue" => Self::Venue(compiler.object(below)?),
            "cast" => {
                compiler.need(|needs| needs.cast = true);
                Self::Cast(compiler.object(below)?)
            }
            "sessions" => {
                compiler.need(|needs| needs.sessions = true);
                Self::Sessions(compiler.object(below)?)
            }
            "priceTiers" => Self::PriceTiers(compiler.object(below)?),
            _ => return None,
        })
    }
}

impl Object for VenueField {
    const NAME: &'static str = "Venue";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, _: &SelectionSet, _: &Compiler) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "name" => Self::Name,
            "address" => Self::Address,
            "region" => Self::Region,
            "seatCount" => Self::SeatCount,
            _ => return None,
        })
    }
}

impl Object for CastRoleField {
    const NAME: &'static str = "CastRole";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, below: &SelectionSet, compiler: &Compiler) -> Option<Self> {
        let field = match name {
            "id" => Self::Id,
            "role" => Self::Role,
            "billingOrder" => Self::BillingOrder,
            "castMember" => Self::CastMember(compiler.object(below)?),
            _ => return None,
        };
        compiler.need(|needs| {
            let columns = &mut needs.cast_columns;
            match &field {
                // The id and billing order come with every role.
                Self::Typename | Self::Id | Self::BillingOrder => {}
                Self::Role => columns.role = true,
                Self::CastMember(_) => columns.member = true,
            }
        });
        Some(field)
    }
}

impl Object for CastMemberField {
    const NAME: &'static str = "CastMember";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, _: &SelectionSet, compiler: &Compiler) -> Option<Self> {
        let field = match name {
            "id" => Self::Id,
            "name" => Self::Name,
            "englishName" => Self::EnglishName,
            "bio" => Self::Bio,
            _ => return None,
        };
        compiler.need(|needs| {
            let columns = &mut needs.cast_columns;
            match &field {
                // The member's id comes with every member.
                Self::Typename | Self::Id => {}
                Self::Name => columns.member_name = true,
                Self::EnglishName => columns.member_english_name = true,
                Self::Bio => columns.member_bio = true,
            }
        });
        Some(field)
    }
}

impl Object for SessionField {
    const NAME: &'static str = "Session";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, _: &SelectionSet, compiler: &Compiler) -> Option<Self> {
        let field = match name {
            "id" => Self::Id,
            "startsAt" => Self::StartsAt,
            "salesOpenAt" => Self::SalesOpenAt,
            "salesCloseAt" => Self::SalesCloseAt,
            "status" => Self::Status,
            "saleState" => Self::SaleState,
            "availableSeatCount" => Self::AvailableSeatCount,
            "totalSeatCount" => Self::TotalSeatCount,
            _ => return None,
        };
        compiler.need(|needs| {
            let columns = &mut needs.session_columns;
            match &field {
                // The id and start come with every session.
                Self::Typename | Self::Id | Self::StartsAt => {}
                Self::SalesOpenAt => columns.sales_open_at = true,
                Self::SalesCloseAt => columns.sales_close_at = true,
                Self::Status => columns.status = true,
                Self::SaleState => {
                    // What `SaleFacts` holds (with the start, always read).
                    columns.status = true;
                    columns.sales_open_at = true;
                    columns.sales_close_at = true;
                    columns.available_seats = true;
                }
                Self::AvailableSeatCount => columns.available_seats = true,
                Self::TotalSeatCount => columns.total_seats = true,
            }
        });
        Some(field)
    }
}

impl Object for PriceTierField {
    const NAME: &'static str = "PriceTier";
    const TYPENAME: Self = Self::Typename;
    fn field(name: &str, _: &SelectionSet, _: &Compiler) -> Option<Self> {
        Some(match name {
            "grade" => Self::Grade,
            "price" => Self::Price,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str) -> Option<Plan> {
        compile(&async_graphql::parser::parse_query(query).expect("parses"), None)
    }

    #[test]
    fn the_catalog_read_compiles_with_its_relations() {
        let plan = plan(
            "query($first: Int) { list: performances(first: $first) { nodes { ...P venue { name } } } }
             fragment P on Performance { cast { role castMember { name } } sessions { startsAt } }",
        )
        .expect("a plan");
        assert_eq!(&*plan.key, "\"list\":");
        let needs = plan.needs;
        assert!(needs.cast && needs.sessions);
        let (cast, sessions) = (needs.cast_columns, needs.session_columns);
        assert!(cast.role && cast.member && cast.member_name && !cast.member_bio);
        assert!(!sessions.status && !sessions.sales_open_at && !sessions.available_seats);
        let page_only =
            self::plan("{ performances { nodes { venue { name } priceTiers { price } } } }").expect("a plan");
        assert!(
            !page_only.needs.cast && !page_only.needs.sessions,
            "the page brings venues and price tiers"
        );
        let [
            Entry {
                field: ConnectionField::Nodes(fields),
                ..
            },
        ] = plan.connection.as_slice()
        else {
            panic!("one key: nodes");
        };
        let keys: Vec<&str> = fields.iter().map(|entry| &*entry.key).collect();
        assert_eq!(keys, ["\"cast\":", "\"sessions\":", "\"venue\":"]);
    }

    #[test]
    fn what_the_executor_must_answer_does_not_compile() {
        for query in [
            "{ performances(after: \"x\") { nodes { id } } }",
            "{ performances { nodes { sessions(from: \"2026-01-01T00:00:00Z\") { id } } } }",
            "{ performances { nodes { id } } venues { nodes { id } } }",
            "query($s: Boolean!) { performances { nodes { id @skip(if: $s) } } }",
            "{ performances { nodes { reviews { nodes { id } } } } }",
            "{ performances { nodes { venue { name } venue { region } } } }",
            "mutation { logout }",
            "query($r: Int) { performances { nodes { title reviews(first: $r) @skip(if: true) { totalCount } } } }",
            "query($unused: Int) { performances { nodes { title } } }",
            "{ performances { pageInfo { hasNextPage @skip(if: true) } } }",
        ] {
            assert!(plan(query).is_none(), "{query}");
        }
    }

    #[test]
    fn literal_conditions_and_repeated_leaves_are_settled_when_compiling() {
        let plan = plan("{ performances { nodes { id title @skip(if: true) id genre @include(if: true) } } }")
            .expect("a plan");
        let [
            Entry {
                field: ConnectionField::Nodes(fields),
                ..
            },
        ] = plan.connection.as_slice()
        else {
            panic!("one key: nodes");
        };
        let keys: Vec<&str> = fields.iter().map(|entry| &*entry.key).collect();
        assert_eq!(keys, ["\"id\":", "\"genre\":"]);
    }
}
