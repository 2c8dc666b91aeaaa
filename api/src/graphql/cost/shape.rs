//! What the cost check needs to know of the schema: for each field, the type it returns and
//! whether it is a list; for each type, whether it is a Relay connection. Read from the SDL
//! (plus the introspection types, which the SDL leaves out), so that it follows the schema
//! without a hand-kept table.

use std::collections::HashMap;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

/// The introspection types, as far as cost goes: which of their fields are lists of what.
/// `__Introspection` holds the entry points, which every type has.
const INTROSPECTION_SDL: &str = "
type __Schema { types: [__Type!]! queryType: __Type! mutationType: __Type
  subscriptionType: __Type directives: [__Directive!]! }
type __Type { fields: [__Field!] interfaces: [__Type!] possibleTypes: [__Type!]
  enumValues: [__EnumValue!] inputFields: [__InputValue!] ofType: __Type }
type __Field { args: [__InputValue!]! type: __Type! }
type __InputValue { type: __Type! }
type __EnumValue { name: String! }
type __Directive { locations: [String!]! args: [__InputValue!]! }
type __Introspection { __schema: __Schema! __type: __Type }
";

/// The shape of one field of an object or interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldShape {
    /// The named type it returns, wrappers removed.
    pub ty: String,
    /// Returns a list (at any wrapping).
    pub list: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TypeShape {
    pub fields: HashMap<String, FieldShape>,
    /// A Relay connection (has `edges` and `pageInfo`): its `edges` and `nodes` hold one
    /// page, whose size the field returning the connection decides.
    pub connection: bool,
}

/// The schema's object and interface types, and its root types.
#[derive(Debug, Clone, Default)]
pub struct SchemaShape {
    pub types: HashMap<String, TypeShape>,
    pub query: Option<String>,
    pub mutation: Option<String>,
    pub subscription: Option<String>,
}

impl SchemaShape {
    /// Reads the shape from `sdl`. An SDL that does not parse gives an empty shape, in which
    /// every field counts 1 and nothing multiplies (tests pin the real SDL to parse).
    pub fn from_sdl(sdl: &str) -> Self {
        let mut shape = Self::default();
        for text in [sdl, INTROSPECTION_SDL] {
            let Ok(document) = parse_schema(text) else {
                tracing::error!("the cost check could not read the schema's SDL");
                continue;
            };
            for definition in document.definitions {
                match definition {
                    TypeSystemDefinition::Schema(schema) => {
                        let schema = schema.node;
                        shape.query = schema.query.map(|n| n.node.to_string());
                        shape.mutation = schema.mutation.map(|n| n.node.to_string());
                        shape.subscription = schema.subscription.map(|n| n.node.to_string());
                    }
                    TypeSystemDefinition::Type(ty) => {
                        let ty = ty.node;
                        let fields = match ty.kind {
                            TypeKind::Object(object) => object.fields,
                            TypeKind::Interface(interface) => interface.fields,
                            _ => continue,
                        };
                        let fields: HashMap<String, FieldShape> = fields
                            .into_iter()
                            .map(|field| {
                                let field = field.node;
                                let (ty, list) = named(&field.ty.node);
                                (field.name.node.to_string(), FieldShape { ty, list })
                            })
                            .collect();
                        let connection = fields.contains_key("edges") && fields.contains_key("pageInfo");
                        shape
                            .types
                            .insert(ty.name.node.to_string(), TypeShape { fields, connection });
                    }
                    TypeSystemDefinition::Directive(_) => {}
                }
            }
        }
        if shape.query.is_none() && shape.types.contains_key("Query") {
            shape.query = Some("Query".into());
        }
        shape
    }

    /// The shape of `field` on `parent`; the introspection entry points are on every type.
    pub fn field<'a>(&'a self, parent: Option<&'a TypeShape>, field: &str) -> Option<&'a FieldShape> {
        match field {
            "__schema" | "__type" => self.types.get("__Introspection")?.fields.get(field),
            _ => parent?.fields.get(field),
        }
    }
}

/// The named type under any list and non-null wrappers, and whether a list was among them.
fn named(ty: &Type) -> (String, bool) {
    match &ty.base {
        BaseType::Named(name) => (name.to_string(), false),
        BaseType::List(inner) => (named(inner).0, true),
    }
}
