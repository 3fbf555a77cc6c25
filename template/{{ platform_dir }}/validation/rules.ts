import { applyDecorators } from '@nestjs/common';
import type { ValidationPipeOptions } from '@nestjs/common';
import {
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateIf,
} from 'class-validator';

/**
 * The global ValidationPipe's options: a property no DTO declares is refused (400), never dropped
 * in silence; the OpenAPI document says so (additionalProperties: false on every request body).
 */
export const VALIDATION: ValidationPipeOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
};

/**
 * The rules of a text field, shared by every API style (REST bodies, GraphQL inputs, gRPC
 * messages), so that a value one style refuses is refused by all of them.
 *
 * The NUL character is refused: PostgreSQL cannot store it in a text column, and refusing it on
 * every database keeps a record portable. TEXT_PATTERN says the same in the OpenAPI document.
 */
export const TEXT_PATTERN = '^[^\\u0000]*$';

const NUL = '\u0000';

function WithoutNul(): PropertyDecorator {
  return ValidateBy({
    name: 'withoutNul',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || !value.includes(NUL),
      defaultMessage: (args) => `${args?.property ?? 'text'} must not contain the NUL character`,
    },
  });
}

/** A required text: a non-empty string of at most maxLength characters; null is refused. */
export function RequiredText(maxLength: number): PropertyDecorator {
  return applyDecorators(IsString(), IsNotEmpty(), MaxLength(maxLength), WithoutNul());
}

/**
 * A required text in a partial update: absent keeps the stored value; null is refused like any
 * other invalid value (the column cannot be cleared).
 */
export function ChangedText(maxLength: number): PropertyDecorator {
  return applyDecorators(
    ValidateIf((_object: object, value: unknown) => value !== undefined),
    RequiredText(maxLength),
  );
}

/**
 * A nullable text: absent or null is no text, and null in an update clears the stored value;
 * otherwise a string of at most maxLength characters.
 */
export function NullableText(maxLength: number): PropertyDecorator {
  return applyDecorators(IsOptional(), IsString(), MaxLength(maxLength), WithoutNul());
}

/**
 * A parameter of a list's page (its number or its size), in every API style: absent takes the
 * default; otherwise an integer from 1 to max, so that a query never skips or reads past the bound.
 */
export function PageParameter(max: number): PropertyDecorator {
  return applyDecorators(IsOptional(), IsInt(), Min(1), Max(max));
}
