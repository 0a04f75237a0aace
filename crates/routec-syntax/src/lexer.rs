//! The logos lexer. Lexing never fails: characters the language does not
//! know become [`Token::Error`], an unterminated string becomes
//! [`Token::UnterminatedString`], and the parser reports both. Comments and
//! newlines are tokens too, so the formatter sees every byte of the input.

use std::fmt;

use logos::Logos;

use crate::span::Span;

#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\f]+")]
pub enum Token<'src> {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'src str),
    /// A number with an optional unit suffix: `42`, `1.5s`, `128k`, `70%`, `5xx`.
    #[regex(r"[0-9][0-9_]*(\.[0-9][0-9_]*)?[A-Za-z%]*")]
    Number(&'src str),
    /// A money amount with an optional scale and denominator: `$5`, `$0.05/Mtok`.
    #[regex(r"\$[0-9][0-9_]*(\.[0-9][0-9_]*)?[kM]?(/[A-Za-z]+)?")]
    Money(&'src str),
    /// A string literal, quotes included.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str(&'src str),
    /// A string literal whose closing quote is missing on its line.
    #[regex(r#""([^"\\\n]|\\[^\n])*"#)]
    UnterminatedString(&'src str),
    /// `/// text`: documentation for the next item.
    #[regex(r"///([^/\n][^\n]*)?", priority = 10, allow_greedy = true)]
    DocComment(&'src str),
    /// `// text`
    #[regex(r"//[^\n]*", allow_greedy = true)]
    Comment(&'src str),
    /// `# text`: not a comment in this language (comments start with
    /// `//`); lexed to the end of the line so the parser reports it once.
    #[regex(r"#[^\n]*", allow_greedy = true)]
    HashComment(&'src str),
    #[token("\n")]
    Newline,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("=")]
    Assign,
    #[token("=>")]
    FatArrow,
    #[token("->")]
    Arrow,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("/")]
    Slash,
    /// Input the language has no token for.
    Error(&'src str),
}

impl Token<'_> {
    /// Comments and newlines: kept for the formatter, not all seen by the parser.
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            Token::Comment(_) | Token::DocComment(_) | Token::Newline
        )
    }

    /// True for words the language reserves: they cannot name anything.
    pub fn is_reserved(self) -> bool {
        matches!(self, Token::Ident(word) if is_reserved_word(word))
    }
}

/// Words that cannot be used as names (sorted): derived from the one table
/// of the language's words, [`crate::words`].
pub const RESERVED_WORDS: &[&str] = crate::words::RESERVED_WORDS;

pub fn is_reserved_word(word: &str) -> bool {
    crate::words::is_reserved(word)
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) | Token::Number(s) | Token::Money(s) | Token::Str(s) => {
                write!(f, "`{s}`")
            }
            Token::UnterminatedString(_) => f.write_str("unterminated string"),
            Token::DocComment(_) => f.write_str("doc comment"),
            Token::HashComment(_) => f.write_str("`#`"),
            Token::Comment(_) => f.write_str("comment"),
            Token::Newline => f.write_str("end of line"),
            Token::Error(s) => write!(f, "`{s}`"),
            other => write!(f, "`{}`", other.punct()),
        }
    }
}

impl Token<'_> {
    /// The source text of a punctuation token; empty for the others.
    pub fn punct(self) -> &'static str {
        match self {
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::Assign => "=",
            Token::FatArrow => "=>",
            Token::Arrow => "->",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Slash => "/",
            Token::Newline => "\n",
            _ => "",
        }
    }
}

/// Lexes the whole input, trivia included.
pub fn lex(source: &str) -> Vec<(Token<'_>, Span)> {
    let mut lexer = Token::lexer(source);
    let mut out = Vec::new();
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let token = match result {
            Ok(token) => token,
            Err(()) => Token::Error(lexer.slice()),
        };
        out.push((token, Span::from(range)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Token<'_>> {
        lex(src).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn reserved_words_are_sorted() {
        let mut sorted = RESERVED_WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, RESERVED_WORDS);
    }

    #[test]
    fn lexes_quantities_money_and_comments() {
        assert_eq!(
            kinds("price input $0.05/Mtok, output $3/Mtok // cheap\n"),
            vec![
                Token::Ident("price"),
                Token::Ident("input"),
                Token::Money("$0.05/Mtok"),
                Token::Comma,
                Token::Ident("output"),
                Token::Money("$3/Mtok"),
                Token::Comment("// cheap"),
                Token::Newline,
            ]
        );
        assert_eq!(
            kinds("p95 1.4s 128k 70% 5xx 170 tok/s"),
            vec![
                Token::Ident("p95"),
                Token::Number("1.4s"),
                Token::Number("128k"),
                Token::Number("70%"),
                Token::Number("5xx"),
                Token::Number("170"),
                Token::Ident("tok"),
                Token::Slash,
                Token::Ident("s"),
            ]
        );
    }

    #[test]
    fn doc_comments_are_three_slashes_exactly() {
        assert_eq!(kinds("/// doc"), vec![Token::DocComment("/// doc")]);
        assert_eq!(kinds("///"), vec![Token::DocComment("///")]);
        assert_eq!(kinds("//// rule"), vec![Token::Comment("//// rule")]);
    }

    #[test]
    fn bad_input_becomes_error_tokens() {
        assert_eq!(
            kinds("a ! \"open\nb"),
            vec![
                Token::Ident("a"),
                Token::Error("!"),
                Token::UnterminatedString("\"open"),
                Token::Newline,
                Token::Ident("b"),
            ]
        );
    }
}
