//! The served schema, read from its SDL into what the generator needs: each type's fields,
//! arguments and possible concrete types.

use std::collections::HashMap;

use async_graphql::Positioned;
use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};

/// The types of a schema by name, and its roots.
pub struct Schema {
    pub(crate) types: HashMap<String, Kind>,
    pub(crate) query: String,
    pub(crate) mutation: Option<String>,
    pub(crate) subscription: Option<String>,
}

pub(crate) enum Kind {
    Scalar,
    Enum(Vec<String>),
    Input(Vec<Arg>),
    /// An object (`possible` is itself), an interface (its implementors, `fields` shared) or
    /// a union (its members, no shared fields).
    Composite {
        fields: Vec<Field>,
        possible: Vec<String>,
    },
}

pub(crate) struct Field {
    pub name: String,
    pub args: Vec<Arg>,
    pub ty: Type,
}

pub(crate) struct Arg {
    pub name: String,
    pub ty: Type,
}

impl Schema {
    /// Reads SDL as `async_graphql::Schema::sdl` prints it.
    pub fn parse(sdl: &str) -> Result<Self, String> {
        let document = parse_schema(sdl).map_err(|e| e.to_string())?;
        let mut types = HashMap::new();
        let mut implementors: HashMap<String, Vec<String>> = HashMap::new();
        let (mut query, mut mutation, mut subscription) = (None, None, None);
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    query = schema.query.map(|n| n.node.to_string());
                    mutation = schema.mutation.map(|n| n.node.to_string());
                    subscription = schema.subscription.map(|n| n.node.to_string());
                }
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    let name = definition.name.node.to_string();
                    let kind = match definition.kind {
                        TypeKind::Scalar => Kind::Scalar,
                        TypeKind::Enum(e) => {
                            Kind::Enum(e.values.iter().map(|v| v.node.value.node.to_string()).collect())
                        }
                        TypeKind::InputObject(input) => Kind::Input(input.fields.iter().map(arg).collect()),
                        TypeKind::Object(object) => {
                            for interface in &object.implements {
                                implementors
                                    .entry(interface.node.to_string())
                                    .or_default()
                                    .push(name.clone());
                            }
                            Kind::Composite {
                                fields: object.fields.iter().map(field).collect(),
                                possible: vec![name.clone()],
                            }
                        }
                        TypeKind::Interface(interface) => Kind::Composite {
                            fields: interface.fields.iter().map(field).collect(),
                            possible: Vec::new(),
                        },
                        TypeKind::Union(union) => Kind::Composite {
                            fields: Vec::new(),
                            possible: union.members.iter().map(|m| m.node.to_string()).collect(),
                        },
                    };
                    types.insert(name, kind);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        for (interface, objects) in implementors {
            if let Some(Kind::Composite { possible, .. }) = types.get_mut(&interface) {
                *possible = objects;
            }
        }
        for builtin in ["Int", "Float", "String", "Boolean", "ID"] {
            types.entry(builtin.to_string()).or_insert(Kind::Scalar);
        }
        Ok(Schema {
            types,
            query: query.unwrap_or_else(|| "Query".into()),
            mutation,
            subscription,
        })
    }

    pub(crate) fn kind(&self, name: &str) -> Option<&Kind> {
        self.types.get(name)
    }
}

fn field(definition: &Positioned<FieldDefinition>) -> Field {
    let definition = &definition.node;
    Field {
        name: definition.name.node.to_string(),
        args: definition.arguments.iter().map(arg).collect(),
        ty: definition.ty.node.clone(),
    }
}

fn arg(definition: &Positioned<InputValueDefinition>) -> Arg {
    let definition = &definition.node;
    Arg {
        name: definition.name.node.to_string(),
        ty: definition.ty.node.clone(),
    }
}

/// The named type inside any lists and non-nulls.
pub(crate) fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}
