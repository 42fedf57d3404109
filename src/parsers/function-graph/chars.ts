/** The bytes the lexer looks for, by name (ASCII). */
export const NL = 0x0a, TAB = 0x09, CR = 0x0d, SP = 0x20, HASH = 0x23, LPAREN = 0x28, RPAREN = 0x29, DASH = 0x2d, DOT = 0x2e;
export const SEMI = 0x3b, LBRACK = 0x5b, RBRACK = 0x5d, LBRACE = 0x7b, BAR = 0x7c, RBRACE = 0x7d, DIGIT_0 = 0x30, DIGIT_9 = 0x39;
export const isDigit = (c: number): boolean => c >= DIGIT_0 && c <= DIGIT_9;
export const BANG = 0x21, PLUS = 0x2b, COLON = 0x3a, UPPER_C = 0x43, LOWER_C = 0x63, LOWER_S = 0x73, LOWER_T = 0x74, LOWER_U = 0x75;
