//! `#[derive(Configurable)]`: one struct declares a config's keys, and this derive writes its
//! schema, its parser and its documentation (see the `connectd-config` crate). On a fieldless
//! enum it makes a choice of names that a key's value may take.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::{
    Attribute, Data, DeriveInput, Expr, ExprLit, ExprUnary, Fields, GenericArgument, Ident, Lit,
    PathArguments, Type, UnOp, parse_macro_input,
};

#[proc_macro_derive(Configurable, attributes(config, grant))]
pub fn derive_configurable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let krate = crate_path();
    let result = match &input.data {
        Data::Struct(data) => config_struct(&input, &data.fields, &krate),
        Data::Enum(data) => choice_enum(&input, data, &krate),
        Data::Union(_) => Err(syn::Error::new_spanned(
            &input.ident,
            "Configurable derives on a struct of keys or a fieldless enum of names",
        )),
    };
    result.unwrap_or_else(syn::Error::into_compile_error).into()
}

/// How the expanding crate names `connectd-config`: directly, or through the SDK.
fn crate_path() -> Tokens {
    use proc_macro_crate::{FoundCrate, crate_name};
    match crate_name("connectd-config") {
        Ok(FoundCrate::Name(name)) => {
            let name = Ident::new(&name, Span::call_site());
            quote!(::#name)
        }
        Ok(FoundCrate::Itself) => quote!(::connectd_config),
        Err(_) => match crate_name("connectd-sdk") {
            Ok(FoundCrate::Name(name)) => {
                let name = Ident::new(&name, Span::call_site());
                quote!(::#name::config)
            }
            _ => quote!(::connectd_sdk::config),
        },
    }
}

/// A field's or variant's doc comment, as one line.
fn doc(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            let line = s.value();
            let line = line.trim();
            if !line.is_empty() {
                lines.push(line.to_string());
            }
        }
    }
    lines.join(" ")
}

/// A literal (or a negated number) as a user would write it.
fn literal_text(expr: &Expr) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(s) => Ok(s.value()),
            Lit::Int(i) => Ok(i.base10_digits().to_string()),
            Lit::Float(f) => Ok(f.base10_digits().to_string()),
            Lit::Bool(b) => Ok(b.value.to_string()),
            other => Err(syn::Error::new_spanned(
                other,
                "expected a string, number or boolean",
            )),
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => Ok(format!("-{}", literal_text(expr)?)),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a literal, as a user would write it",
        )),
    }
}

#[derive(Default)]
struct FieldAttrs {
    key: Option<String>,
    default: Option<String>,
    default_doc: Option<String>,
    minimum: Option<String>,
    maximum: Option<String>,
    prefix: Option<String>,
    grant: Option<Ident>,
    secret: bool,
}

fn field_attrs(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("config") {
            attr.parse_nested_meta(|meta| {
                let text = || -> syn::Result<String> { literal_text(&meta.value()?.parse()?) };
                if meta.path.is_ident("secret") {
                    out.secret = true;
                    return Ok(());
                }
                let slot = if meta.path.is_ident("key") {
                    &mut out.key
                } else if meta.path.is_ident("default") {
                    &mut out.default
                } else if meta.path.is_ident("default_doc") {
                    &mut out.default_doc
                } else if meta.path.is_ident("minimum") {
                    &mut out.minimum
                } else if meta.path.is_ident("maximum") {
                    &mut out.maximum
                } else if meta.path.is_ident("prefix") {
                    &mut out.prefix
                } else {
                    return Err(meta.error(
                        "expected key, default, default_doc, minimum, maximum, prefix or secret",
                    ));
                };
                *slot = Some(text()?);
                Ok(())
            })?;
        } else if attr.path().is_ident("grant") {
            out.grant = Some(attr.parse_args()?);
        }
    }
    Ok(out)
}

/// `read_parent` as the `Grant` variant `ReadParent`.
fn grant_variant(name: &Ident, krate: &Tokens) -> syn::Result<Tokens> {
    let variant = match name.to_string().as_str() {
        "read_parent" => "ReadParent",
        "write_parent" => "WriteParent",
        "sql_url" => "SqlUrl",
        "store_url" => "StoreUrl",
        "stdout" => "Stdout",
        _ => {
            return Err(syn::Error::new_spanned(
                name,
                "expected read_parent, write_parent, sql_url, store_url or stdout",
            ));
        }
    };
    let variant = Ident::new(variant, name.span());
    Ok(quote!(#krate::Grant::#variant))
}

/// `T` when `ty` is `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

fn quote_option(text: &Option<String>) -> Tokens {
    match text {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    }
}

fn number_option(text: &Option<String>, span: &Ident) -> syn::Result<Tokens> {
    match text {
        Some(t) => {
            let n: f64 = t
                .parse()
                .map_err(|_| syn::Error::new_spanned(span, "a bound must be a number"))?;
            Ok(quote!(::core::option::Option::Some(#n)))
        }
        None => Ok(quote!(::core::option::Option::None)),
    }
}

fn config_struct(input: &DeriveInput, fields: &Fields, krate: &Tokens) -> syn::Result<Tokens> {
    let Fields::Named(fields) = fields else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "Configurable needs named fields",
        ));
    };
    let mut deny_unknown = false;
    let mut grants = Vec::new();
    for attr in &input.attrs {
        if attr.path().is_ident("config") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("deny_unknown_keys") {
                    deny_unknown = true;
                    Ok(())
                } else {
                    Err(meta.error("expected deny_unknown_keys"))
                }
            })?;
        } else if attr.path().is_ident("grant") {
            grants.push(grant_variant(&attr.parse_args()?, krate)?);
        }
    }

    let mut keys = Vec::new();
    let mut reads = Vec::new();
    let mut builds = Vec::new();
    for field in &fields.named {
        let ident = field.ident.as_ref().expect("named fields");
        let attrs = field_attrs(&field.attrs)?;
        let doc = doc(&field.attrs);
        let var = Ident::new(&format!("__{ident}"), ident.span());
        let grant = match &attrs.grant {
            Some(g) => {
                let g = grant_variant(g, krate)?;
                quote!(::core::option::Option::Some(#g))
            }
            None => quote!(::core::option::Option::None),
        };
        let default_doc = quote_option(&attrs.default_doc);
        let secret = attrs.secret;
        if let Some(prefix) = &attrs.prefix {
            let doc_name = quote_option(&attrs.key);
            keys.push(quote! {
                #krate::Key {
                    name: #prefix,
                    doc: ::std::string::String::from(#doc),
                    value_type: #krate::ValueType::String,
                    required: false,
                    default: ::core::option::Option::None,
                    default_doc: #default_doc,
                    minimum: ::core::option::Option::None,
                    maximum: ::core::option::Option::None,
                    grant: #grant,
                    prefix: true,
                    secret: #secret,
                    doc_name: #doc_name,
                }
            });
            reads.push(quote!(let #var = #krate::__private::family(pairs, #prefix);));
            builds.push(quote!(#ident: #var));
            continue;
        }
        let key = attrs
            .key
            .clone()
            .unwrap_or_else(|| ident.to_string().replace('_', "."));
        let optional = option_inner(&field.ty);
        let value_ty = optional.unwrap_or(&field.ty);
        if optional.is_some() && attrs.default.is_some() {
            return Err(syn::Error::new_spanned(
                ident,
                "an Option field has no default: drop the Option, or the default",
            ));
        }
        let required = optional.is_none() && attrs.default.is_none();
        let default = quote_option(&attrs.default);
        let minimum = quote_option(&attrs.minimum);
        let maximum = quote_option(&attrs.maximum);
        let min_f = number_option(&attrs.minimum, ident)?;
        let max_f = number_option(&attrs.maximum, ident)?;
        keys.push(quote! {
            #krate::Key {
                name: #key,
                doc: ::std::string::String::from(#doc),
                value_type: <#value_ty as #krate::ConfigValue>::TYPE,
                required: #required,
                default: #default,
                default_doc: #default_doc,
                minimum: #minimum,
                maximum: #maximum,
                grant: #grant,
                prefix: false,
                secret: #secret,
                doc_name: ::core::option::Option::None,
            }
        });
        reads.push(quote! {
            let #var = #krate::__private::field::<#value_ty>(
                &mut problems,
                #key,
                #krate::__private::get(pairs, #key),
                #default,
                #required,
                (#min_f, #max_f),
            );
        });
        if optional.is_some() {
            builds.push(quote!(#ident: #var));
        } else {
            builds.push(quote!(#ident: #var.expect("a value or a problem was recorded")));
        }
    }

    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let unknown = if deny_unknown {
        quote!(#krate::__private::unknown(&mut problems, &<Self as #krate::Configurable>::declaration(), pairs);)
    } else {
        quote!()
    };
    Ok(quote! {
        impl #impl_generics #krate::Configurable for #name #ty_generics #where_clause {
            fn declaration() -> #krate::Declaration {
                #krate::Declaration {
                    keys: ::std::vec![#(#keys),*],
                    deny_unknown_keys: #deny_unknown,
                    grants: ::std::vec![#(#grants),*],
                }
            }

            fn from_pairs(
                pairs: &[(::std::string::String, ::std::string::String)],
            ) -> ::core::result::Result<Self, #krate::Problems> {
                let mut problems = #krate::Problems::default();
                #(#reads)*
                #unknown
                problems.into_result(|| #name { #(#builds),* })
            }
        }
    })
}

fn choice_enum(input: &DeriveInput, data: &syn::DataEnum, krate: &Tokens) -> syn::Result<Tokens> {
    let mut names = Vec::new();
    let mut all = Vec::new();
    let mut arms = Vec::new();
    let mut name_arms = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                variant,
                "a choice's variants have no fields",
            ));
        }
        let ident = &variant.ident;
        let mut name = ident.to_string().to_lowercase();
        let mut aliases = Vec::new();
        for attr in variant.attrs.iter().filter(|a| a.path().is_ident("config")) {
            attr.parse_nested_meta(|meta| {
                let text = literal_text(&meta.value()?.parse()?)?;
                if meta.path.is_ident("name") {
                    name = text;
                } else if meta.path.is_ident("alias") {
                    aliases.push(text);
                } else {
                    return Err(meta.error("expected name or alias"));
                }
                Ok(())
            })?;
        }
        names.push(name.clone());
        all.push(name.clone());
        all.extend(aliases.iter().cloned());
        arms.push(quote!(#name #(| #aliases)* => ::core::result::Result::Ok(Self::#ident),));
        name_arms.push(quote!(Self::#ident => #name,));
    }
    let expected = format!("expected one of {}", names.join(", "));
    let enum_name = &input.ident;
    Ok(quote! {
        impl #krate::ConfigValue for #enum_name {
            const TYPE: #krate::ValueType = #krate::ValueType::Choice(&[#(#all),*]);

            fn parse(text: &str) -> ::core::result::Result<Self, ::std::string::String> {
                match text.trim() {
                    #(#arms)*
                    _ => ::core::result::Result::Err(::std::string::String::from(#expected)),
                }
            }
        }

        impl #enum_name {
            /// The name a config writes this choice as.
            pub fn name(&self) -> &'static str {
                match self {
                    #(#name_arms)*
                }
            }
        }
    })
}
