// ESLint flat config: typescript-eslint's recommended rules plus Effect's dprint formatting rule,
// with the dprint options the Effect-TS/effect monorepo uses.
import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import { defineConfig } from "eslint/config"
import globals from "globals"
import tseslint from "typescript-eslint"

// `.only` left in a test would silently skip the rest of the suite in CI.
const onlyMessage = "Do not commit focused tests (.only)."
const testNames = "/^(describe|it|test|suite)$/"

export default defineConfig(
  {
    ignores: ["**/dist/**", "**/node_modules/**", "repos/**", "**/*.md"]
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  effectEslint.configs.dprint,
  {
    files: ["**/*.ts", "**/*.mjs", "**/*.js"],
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: globals.node
    },
    linterOptions: {
      reportUnusedDisableDirectives: "error"
    },
    rules: {
      // TypeScript checks these (noFallthroughCasesInSwitch; Effect.gen bodies need not yield).
      "no-fallthrough": "off",
      "require-yield": "off",
      "no-unused-vars": "off",

      "no-restricted-syntax": [
        "error",
        { selector: `MemberExpression[property.name='only'][object.name=${testNames}]`, message: onlyMessage },
        {
          selector: `MemberExpression[property.name='only'][object.object.name=${testNames}]`,
          message: onlyMessage
        }
      ],

      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          caughtErrorsIgnorePattern: "^_",
          destructuredArrayIgnorePattern: "^_",
          ignoreRestSiblings: true
        }
      ],
      "@typescript-eslint/consistent-type-imports": "error",
      // Effect idioms: namespaces for companion types, `{}` in Tag/Schema class type parameters.
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",

      "@effect/dprint": [
        "error",
        {
          config: {
            indentWidth: 2,
            lineWidth: 120,
            semiColons: "asi",
            quoteStyle: "alwaysDouble",
            trailingCommas: "never",
            operatorPosition: "maintain",
            "arrowFunction.useParentheses": "force"
          }
        }
      ]
    }
  }
)
