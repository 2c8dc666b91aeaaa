use sea_orm::entity::prelude::*;

/// A physical seat of a venue. Sessions refer to it through `session_seat`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "seats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub venue_id: i64,
    pub section_id: i64,
    /// Row label as printed on the ticket ("A", "B", … or "1", "2", …).
    pub row_label: String,
    /// Row order within the section, 0 nearest the stage; adjacency needs it.
    pub row_index: i32,
    /// Seat number within the row, consecutive from 1.
    pub number: i32,
    /// Price grade ("VIP", "R", "S", "A"); sessions price each grade.
    pub grade: String,
    /// Position for drawing the seat map, in seat widths.
    pub x: f64,
    pub y: f64,
    pub accessible: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::section::Entity",
        from = "Column::SectionId",
        to = "super::section::Column::Id",
        on_delete = "Cascade"
    )]
    Section,
    #[sea_orm(
        belongs_to = "super::venue::Entity",
        from = "Column::VenueId",
        to = "super::venue::Column::Id",
        on_delete = "Cascade"
    )]
    Venue,
}

impl Related<super::section::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Section.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
