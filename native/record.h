// record.h — records that cross the N-API boundary, declared once.
//
// A record is one field list, a macro taking X and listing X(type, name, jsName, initial value) per
// field. The struct is declared from it (FTPLAN_FIELD, below) and the boundary (native/js/records.h)
// generates the record's JS conversion from the same list, so adding a field is one line on the C++
// side; on the TypeScript side each record has one zod schema (src/native.ts), compared with these
// lists when the addon loads. jsName is the field's name in JS (camelCase); left empty, the field is
// a record whose fields sit in the parent's own JS object (the training options are fields of the
// benchmark options, not a nested object).
//
// Comments inside a list are /* */: a // comment would swallow the line continuation.
// This header is plain C++: the concept headers that declare records never see N-API.
#pragma once

#define FTPLAN_FIELD(type, name, js, init) type name = init;
