//! A message's fields as the user gave them: from flags, from the endpoint's JSON body, or
//! from a CSV row. Each value is taken exactly as given or refused with the field's name;
//! nothing is trimmed, rounded or rewritten.

use heymarket_step::Message;
use serde_json::Value;

/// The endpoint's field names, in the order the vendor documents them.
pub const NAMES: [&str; 14] = [
    "inbox_id",
    "creator_id",
    "phone_number",
    "targets",
    "chat_id",
    "list_id",
    "text",
    "media_url",
    "template_id",
    "local_id",
    "activity_id",
    "private",
    "author",
    "survey_id",
];

/// Every field optional, so that partial sources (flags, defaults, rows) can be combined
/// before the two required ids are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub inbox_id: Option<u64>,
    pub creator_id: Option<u64>,
    pub phone_number: Option<String>,
    pub targets: Option<Vec<String>>,
    pub chat_id: Option<u64>,
    pub list_id: Option<u64>,
    pub text: Option<String>,
    pub media_url: Option<String>,
    pub template_id: Option<u64>,
    pub local_id: Option<String>,
    pub activity_id: Option<String>,
    pub private: Option<bool>,
    pub author: Option<String>,
    pub survey_id: Option<u64>,
}

/// A place to put one field's value, typed by the field.
enum Slot<'a> {
    Id(&'a mut Option<u64>),
    Text(&'a mut Option<String>),
    List(&'a mut Option<Vec<String>>),
    Bool(&'a mut Option<bool>),
}

macro_rules! all_fields {
    ($($field:ident: $slot:ident),* $(,)?) => {
        impl Fields {
            fn slot(&mut self, name: &str) -> Option<Slot<'_>> {
                match name {
                    $(stringify!($field) => Some(Slot::$slot(&mut self.$field)),)*
                    _ => None,
                }
            }

            /// Each field from `self`, else from `defaults`: a row over the batch's
            /// defaults.
            pub fn or(self, defaults: Fields) -> Fields {
                Fields { $($field: self.$field.or(defaults.$field),)* }
            }

            /// Both sets of fields combined; a field given twice with different values
            /// is an error naming it, since either choice would silently drop the other.
            pub fn merge(self, other: Fields) -> Result<Fields, String> {
                let mut clashes = Vec::new();
                $(
                    if self.$field.is_some() && other.$field.is_some()
                        && self.$field != other.$field
                    {
                        clashes.push(stringify!($field));
                    }
                )*
                if !clashes.is_empty() {
                    return Err(format!(
                        "given twice with different values (flag and JSON): {}",
                        clashes.join(", ")
                    ));
                }
                Ok(self.or(other))
            }
        }
    };
}

all_fields!(
    inbox_id: Id,
    creator_id: Id,
    phone_number: Text,
    targets: List,
    chat_id: Id,
    list_id: Id,
    text: Text,
    media_url: Text,
    template_id: Id,
    local_id: Text,
    activity_id: Text,
    private: Bool,
    author: Text,
    survey_id: Id,
);

fn unknown(name: &str) -> String {
    format!(
        "unknown field `{name}` (the fields are the endpoint's: {})",
        NAMES.join(", ")
    )
}

/// Whether `name` is one of the endpoint's fields; else an error naming it.
pub fn check_name(name: &str) -> Result<(), String> {
    if NAMES.contains(&name) {
        Ok(())
    } else {
        Err(unknown(name))
    }
}

impl Fields {
    /// Parses the endpoint's own JSON body (one object, snake_case names).
    pub fn from_json_text(text: &str) -> Result<Fields, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("the JSON does not parse: {e}"))?;
        Fields::from_json(value)
    }

    /// Takes each member of a JSON object; unknown names and wrong types are errors
    /// naming the field. `null` means absent, as JSON clients mean it.
    pub fn from_json(value: Value) -> Result<Fields, String> {
        let Value::Object(members) = value else {
            return Err("the JSON must be one object with the endpoint's fields".into());
        };
        let mut fields = Fields::default();
        for (name, value) in members {
            let slot = fields.slot(&name).ok_or_else(|| unknown(&name))?;
            if value.is_null() {
                continue;
            }
            let wrong = |what: &str| format!("`{name}` must be {what}, not {value}");
            match slot {
                Slot::Id(v) => *v = Some(value.as_u64().ok_or_else(|| wrong("a whole number"))?),
                Slot::Text(v) => {
                    *v = Some(value.as_str().ok_or_else(|| wrong("a string"))?.to_owned());
                }
                Slot::Bool(v) => *v = Some(value.as_bool().ok_or_else(|| wrong("true or false"))?),
                Slot::List(v) => {
                    let items = value.as_array().ok_or_else(|| wrong("a list of strings"))?;
                    let strings = items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| wrong("a list of strings"))?;
                    *v = Some(strings);
                }
            }
        }
        Ok(fields)
    }

    /// Takes one CSV row as `(column, cell)` pairs. An empty cell is an absent field;
    /// `targets` is split on commas; `private` is `true` or `false`.
    pub fn from_cells<'a>(
        cells: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Fields, String> {
        let mut fields = Fields::default();
        for (name, cell) in cells {
            let slot = fields.slot(name).ok_or_else(|| unknown(name))?;
            if cell.is_empty() {
                continue;
            }
            let wrong = |what: &str| format!("`{name}` must be {what}, not {cell:?}");
            match slot {
                Slot::Id(v) => *v = Some(cell.parse().map_err(|_| wrong("a whole number"))?),
                Slot::Text(v) => *v = Some(cell.to_owned()),
                Slot::Bool(v) => {
                    *v = Some(match cell {
                        "true" => true,
                        "false" => false,
                        _ => return Err(wrong("true or false")),
                    });
                }
                Slot::List(v) => *v = Some(cell.split(',').map(str::to_owned).collect()),
            }
        }
        Ok(fields)
    }

    /// The component's message; the two ids are required, everything else is the
    /// component's to check.
    pub fn into_message(self) -> Result<Message, String> {
        let missing: Vec<&str> = [
            ("inbox_id (--inbox)", self.inbox_id.is_none()),
            ("creator_id (--creator)", self.creator_id.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect();
        let (Some(inbox_id), Some(creator_id)) = (self.inbox_id, self.creator_id) else {
            return Err(format!("required: {}", missing.join(", ")));
        };
        Ok(Message {
            inbox_id,
            creator_id,
            phone_number: self.phone_number,
            targets: self.targets,
            chat_id: self.chat_id,
            list_id: self.list_id,
            text: self.text,
            media_url: self.media_url,
            template_id: self.template_id,
            local_id: self.local_id,
            activity_id: self.activity_id,
            private: self.private,
            author: self.author,
            survey_id: self.survey_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_takes_every_field_with_its_type() {
        let fields = Fields::from_json_text(
            r#"{"inbox_id":1,"creator_id":2,"targets":["a","b"],"private":true,
                "text":" spaced ","survey_id":null}"#,
        )
        .unwrap();
        assert_eq!(fields.targets, Some(vec!["a".into(), "b".into()]));
        assert_eq!(fields.text.as_deref(), Some(" spaced "));
        assert_eq!((fields.private, fields.survey_id), (Some(true), None));
    }

    #[test]
    fn json_unknown_fields_and_wrong_types_name_the_field() {
        let err = Fields::from_json_text(r#"{"inbox":1}"#).unwrap_err();
        assert!(err.contains("unknown field `inbox`"), "{err}");
        let err = Fields::from_json_text(r#"{"inbox_id":"1"}"#).unwrap_err();
        assert!(err.contains("`inbox_id` must be a whole number"), "{err}");
        let err = Fields::from_json_text(r#"{"inbox_id":1.5}"#).unwrap_err();
        assert!(err.contains("inbox_id"), "{err}");
    }

    #[test]
    fn csv_cells_are_parsed_exactly_and_empty_means_absent() {
        let fields = Fields::from_cells([
            ("inbox_id", "7"),
            ("text", ""),
            ("targets", "1,2"),
            ("private", "false"),
        ])
        .unwrap();
        assert_eq!(fields.inbox_id, Some(7));
        assert_eq!(fields.text, None);
        assert_eq!(fields.targets, Some(vec!["1".into(), "2".into()]));
        assert_eq!(fields.private, Some(false));
        assert!(Fields::from_cells([("inbox_id", " 7")]).is_err());
        assert!(Fields::from_cells([("private", "yes")]).is_err());
    }

    #[test]
    fn merging_refuses_a_field_given_twice_with_different_values() {
        let a = Fields {
            text: Some("a".into()),
            ..Fields::default()
        };
        let b = Fields {
            text: Some("b".into()),
            inbox_id: Some(1),
            ..Fields::default()
        };
        assert!(a.clone().merge(b.clone()).unwrap_err().contains("text"));
        assert_eq!(a.clone().merge(a.clone()).unwrap(), a);
        assert_eq!(a.clone().or(b).text.as_deref(), Some("a"));
    }

    #[test]
    fn the_two_ids_are_required() {
        let err = Fields::default().into_message().unwrap_err();
        assert!(
            err.contains("inbox_id") && err.contains("creator_id"),
            "{err}"
        );
    }
}
