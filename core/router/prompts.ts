// A data table (the L2 classifier's labelled training prompts), so longer than 300 lines.
/**
 * The labelled prompts the in-process L2 classifier learns from, written for this project (one prompt per line).
 *
 * Tiered labels follow the seed: TEMPLATE — config files, type definitions, documentation, boilerplate; SNIPPET —
 * one short function, simple middleware, under 50 lines; COMPLEX — multi-file implementations, test suites, full
 * endpoints. General (non-coding) questions are labelled too: a short self-contained answer counts as SNIPPET, one
 * that needs reasoning over several steps or a long answer as COMPLEX. Binary labels: TEMPLATE and SNIPPET are
 * SIMPLE, COMPLEX is COMPLEX.
 */
import type { TieredLabel } from "../domain/routing.ts"

export interface LabelledPrompt {
  readonly text: string
  readonly tier: TieredLabel
  /** Coding request or general question. */
  readonly kind: "code" | "general"
}

const TEMPLATE_CODE = `
Write a tsconfig.json for a Node 20 project that uses ES modules and strict mode
Give me a .gitignore for a Python project with a virtualenv
Create a package.json for a small Express app with start and test scripts
Write a Dockerfile for a Node.js 20 web server
Write a docker-compose.yml with Postgres and Redis services
Create an .editorconfig with 2-space indentation and LF line endings
Write a README template for an open-source CLI tool
Give me a GitHub Actions workflow that runs npm test on every push
Write a TypeScript interface for a User with id, email, name and createdAt
Create a type definition for an API response with data, error and status fields
Write an ESLint config for a TypeScript project
Give me a Prettier config with single quotes and no semicolons
Write a Makefile with build, test and clean targets
Create an nginx config that proxies port 80 to localhost:3000
Write a .env.example for an app that needs a database URL, a port and an API key
Create a Kubernetes Deployment manifest for a container image called web:1.0
Write a Kubernetes Service manifest exposing port 8080
Give me a pyproject.toml for a library using poetry
Write a setup.cfg for a Python package with flake8 settings
Create a Cargo.toml for a Rust binary called mytool
Write a go.mod for a module named example.com/service
Write a LICENSE file with the MIT license text
Give me a CONTRIBUTING.md template
Write a CHANGELOG.md skeleton following Keep a Changelog
Create a JSON schema for a product with name, price and tags
Write an OpenAPI 3 stub for a GET /health endpoint
Give me a basic HTML5 boilerplate page
Write a webpack config for a TypeScript entry point
Create a vite.config.ts for a React project
Write a jest.config.js for a TypeScript project
Give me a babel.config.js for React and TypeScript
Write a .prettierrc and .prettierignore for a monorepo
Create a tailwind.config.js with a custom primary colour
Write a systemd unit file for a Node service
Write a Procfile for a Heroku web and worker process
Give me a .dockerignore for a Node project
Create a terraform provider block for AWS in eu-west-1
Write an Ansible inventory file with two web hosts
Give me a logrotate config for /var/log/myapp/*.log
Write a pre-commit config that runs black and isort
Create a renovate.json that groups minor updates
Write a dependabot.yml for npm and GitHub Actions
Create TypeScript types for a blog Post and Comment
Write a Python dataclass for an Order with id, items and total
Write a Java POJO for a Customer with getters and setters
Create a C# record type for a Point with X and Y
Write a Rust struct for a Config with serde derive
Give me a Go struct for a JSON user payload with tags
Write a SQL CREATE TABLE statement for users with id, email and created_at
Create a Prisma schema for User and Post models
Write a Mongoose schema for a Product
Write a GraphQL schema for a Book type and a books query
Create a protobuf message definition for a ChatMessage
Write the docstring for a function that parses dates
Write JSDoc comments for a function add(a, b)
Give me an API documentation section describing authentication with bearer tokens
Write a docs page template for a configuration option
Create a YAML config for a CircleCI pipeline running tests
Write a GitLab CI file with build and test stages
Give me a Helm values.yaml for a web app with 3 replicas
Write a .npmrc that uses a private registry
Create a launch.json for debugging Node in VS Code
Write a settings.json for VS Code that formats on save
Give me an Apache .htaccess that redirects http to https
Write a robots.txt that disallows /admin
Create a sitemap.xml template with two URLs
Write a manifest.json for a progressive web app
Give me a basic Express server boilerplate
Write a Flask hello world app boilerplate
Create a FastAPI app skeleton with one route
Write a Spring Boot application class boilerplate
Give me a React component boilerplate with props typing
Write a Vue single-file component template
Create an Angular service skeleton
Write a Svelte component template with a prop
Give me a Jest test file skeleton for a module called math
Write a pytest conftest.py with a fixture skeleton
Create a log4j2.xml configuration with console output
Write a logback.xml with a rolling file appender
Give me an application.yml for Spring with a datasource
Write a Rails database.yml for PostgreSQL
Create a Django settings snippet for a PostgreSQL database
Write a Redis config file with maxmemory and allkeys-lru
Give me a Prometheus scrape config for a service on port 9100
Write a Grafana datasource provisioning YAML for Prometheus
Create an OpenTelemetry collector config with an OTLP receiver
Write TypeScript enum definitions for order statuses
Define a TypeScript union type for HTTP methods
Write type definitions for an Express request with a user field
Create a d.ts file declaring a module called legacy-lib
Write an issue template for bug reports
Give me a pull request template with a checklist
Write a CODEOWNERS file assigning /docs to the docs team
Create an .nvmrc pinning Node 20
Write a browserslist config for last 2 versions
Give me a mkdocs.yml for a documentation site
Write a Sphinx conf.py skeleton
Create a swagger.yaml skeleton for a pets API
Write a basic .bashrc alias section for git shortcuts
`

const SNIPPET_CODE = `
Write a function that reverses a string in JavaScript
Write a Python function that checks whether a number is prime
Give me a function to debounce another function in TypeScript
Write a function that deep clones a plain object
Write an Express middleware that logs the method and URL of each request
Write a function that capitalises the first letter of each word
Implement a function that flattens a nested array one level deep
Write a Python function to count the vowels in a string
Write a regex that matches an email address and a function that uses it
Write a function that returns the nth Fibonacci number iteratively
Give me a function that converts Celsius to Fahrenheit
Write a function that removes duplicates from an array
Write a function that checks if a string is a palindrome
Write a Go function that sums a slice of ints
Write a Rust function that returns the largest element of a vector
Write a function that chunks an array into groups of n
Write a sleep helper that returns a promise in JavaScript
Write a function that formats a date as YYYY-MM-DD
Write a throttle function in JavaScript
Write a function that parses a query string into an object
Write an Express middleware that checks for an API key header
Write a function that generates a random hex colour
Give me a Python one-liner to read a file into a list of lines
Write a bash function that creates a directory and cd's into it
Write a SQL query that selects the ten most recent orders
Write a SQL query that counts users per country
Write a function that merges two sorted arrays
Write a binary search function in Python
Write a function that computes the factorial of n recursively
Write a function that validates a UUID string
Write a function that truncates a string to n characters with an ellipsis
Write a Koa middleware that adds a response time header
Write a function that retries a promise three times
Write a function that groups an array of objects by a key
Write a function that converts a camelCase string to snake_case
Write a C function that swaps two integers through pointers
Write a Java method that checks whether a year is a leap year
Write a C# method that reverses the words in a sentence
Write a Kotlin function that filters even numbers from a list
Write a Swift function that returns the average of an array of doubles
Write a PHP function that slugifies a title
Write a Ruby method that counts word frequencies in a string
Write a function that computes the greatest common divisor of two numbers
Write a function that shuffles an array with Fisher-Yates
Write a function that checks if two strings are anagrams
Write a Python decorator that times a function
Write a context manager that changes the working directory temporarily
Write a React hook that tracks the window width
Write a useDebounce hook in React
Write a function that sums the digits of a number
Write a function that converts a number to a Roman numeral
Write a function that finds the most frequent element in an array
Write a function that pads a number with leading zeros
Write a function that checks if an object is empty
Write a function that picks selected keys from an object
Write a Node function that reads a JSON file and parses it
Write a function that escapes HTML special characters
Write a function that generates a random integer between min and max
Write a function that calculates the distance between two points
Write a Python function that returns the second largest number in a list
Write a CORS middleware for Express that allows one origin
Write an error-handling middleware for Express that returns JSON
Write a function that counts the lines in a string
Write a function that converts bytes to a human-readable size
Write a function that checks whether a string contains only digits
Write a function that capitalises a string
Write a function that zips two arrays into pairs
Write a function that computes a running total of an array
Write a TypeScript type guard for a string array
Write a function that memoises a single-argument function
Write a function that returns the intersection of two arrays
Write a function that converts a string to title case in Python
Write a function that validates a hex colour code
Write a function that returns the last element of an array
Write a Go function that reverses a string with runes
Write a function that rounds a number to two decimals
Write a shell one-liner to find the five largest files in a directory
Write a function that checks if a number is a power of two
Write a function that sorts an array of objects by a date field
Write a Python function that flattens a list of lists
Write a function that counts the occurrences of a character
Write a function that returns a range of numbers like Python's range
Write an async function that fetches JSON from a URL with error handling
Write a function that parses a CSV line into fields
Write a function that transposes a matrix
Write a function that checks balanced parentheses
Write a function that converts an object to a query string
Write a function that returns unique characters of a string
Write a function that wraps text at 80 columns
Write a function to compute the median of an array
Write a function that masks all but the last four digits of a card number
Write a Python function that validates an IPv4 address
Write a function that calculates compound interest
Write a middleware that rejects requests larger than 1 MB
Write a function that sets a cookie with an expiry date in the browser
Write a function that converts RGB values to a hex string
Write a Python generator that yields chunks of a list
Write a function that returns the days between two dates
Write a function that removes falsy values from an array
`

const COMPLEX_CODE = `
Build a full REST API for a todo app with authentication, a database layer and tests
Implement a multi-file Express application with routes, controllers, services and a repository layer
Write a complete test suite for a shopping cart module covering edge cases
Design and implement a rate limiter service shared across several Node processes using Redis
Implement OAuth 2.0 authorization code flow with PKCE in a web app, front end and back end
Write a distributed job queue with retries, dead-letter handling and monitoring
Refactor this legacy monolith into microservices and explain the migration plan
Implement a full CRUD endpoint set for products with validation, pagination and integration tests
Build a real-time chat server with WebSockets, rooms, persistence and reconnection
Write a compiler front end for a small expression language with a lexer, parser and type checker
Implement a B-tree with insertion, deletion and range queries, with tests
Create a React application with routing, state management, forms and API integration
Write an end-to-end test suite with Playwright for the signup, login and checkout flows
Implement a GraphQL server with resolvers, data loaders, authentication and subscriptions
Design a database schema and migrations for a multi-tenant SaaS billing system
Implement a caching layer with invalidation across services and write tests for consistency
Build a CLI tool with subcommands, config files, logging and a plugin system
Write a Kubernetes operator that reconciles a custom resource
Implement the Raft consensus algorithm with leader election and log replication
Create a full authentication service with registration, email verification, password reset and 2FA
Port this Python data pipeline to Go, keeping behaviour identical, and add benchmarks
Implement a search engine with an inverted index, ranking and query parsing
Build a payment integration with Stripe including webhooks, idempotency and reconciliation
Write a complete unit and integration test suite for an order service with mocks
Implement an event-sourced inventory system with projections and snapshots
Design a plugin architecture for an editor and implement the loader and sandbox
Implement a full-text autocomplete service with a trie, ranking and an HTTP API
Write a multi-threaded web crawler with politeness, robots.txt handling and storage
Create a microservice with gRPC, health checks, tracing and graceful shutdown
Implement a file upload service with chunked uploads, resumability and virus scanning
Build a dashboard with charts, filters, server-side aggregation and caching
Debug why our service leaks memory under load and propose fixes across the codebase
Implement a scheduler that runs cron jobs across a cluster with leader election
Write a migration tool that moves data between two database schemas with verification
Design and implement role-based access control for an API with tests
Implement a markdown to HTML converter supporting tables, code blocks and footnotes
Build an offline-first mobile app sync layer with conflict resolution
Write a load testing harness and analyse the bottlenecks of our API
Implement a virtual DOM diffing algorithm with keyed children and tests
Create a game engine loop with physics, collision detection and rendering
Implement a SQL query planner for joins with cost estimation
Write an interpreter for a subset of Scheme with closures and tail calls
Implement a reverse proxy with load balancing, health checks and TLS termination
Build a recommendation system pipeline with feature extraction, training and serving
Implement a full checkout flow across the cart, payment and shipping services
Write comprehensive tests for a date parsing library across time zones and locales
Refactor the whole codebase from callbacks to async/await and keep the tests passing
Implement a collaborative text editor with operational transforms
Design an API gateway with authentication, rate limiting, caching and observability
Implement a blockchain prototype with blocks, proof of work, wallets and a network layer
Build an ETL pipeline that ingests CSV files, validates, transforms and loads into a warehouse
Create a notification service supporting email, SMS and push with templates and retries
Implement a key-value store with a write-ahead log, compaction and crash recovery
Write a static site generator with templates, front matter, plugins and a dev server
Implement an image processing service with resizing, caching and a queue of workers
Build a feature flag system with targeting rules, an admin UI and SDKs
Implement a distributed tracing library and instrument an existing service with it
Write a regex engine supporting groups, alternation and backtracking
Design and implement a multi-step form wizard with validation and persistence
Implement an HTTP/1.1 server from scratch with keep-alive and chunked encoding
Migrate our REST API to GraphQL while keeping backward compatibility
Implement a spreadsheet engine with formulas, dependencies and recalculation
Build a monitoring agent that collects metrics, buffers and ships them reliably
Write property-based tests for a serialization library and fix the bugs they find
Implement a chess engine with move generation, alpha-beta search and evaluation
Create a microfrontend architecture with shared state and independent deploys
Implement an access log analyser that processes gigabytes of logs in parallel
Build a document management system with versioning, permissions and search
Implement end-to-end encryption for a messaging app including key exchange
Write a database connection pool with health checks, timeouts and metrics
Implement a video transcoding pipeline with a job queue and progress reporting
Design an A/B testing platform with assignment, tracking and statistical analysis
Implement a workflow engine that executes DAGs of tasks with retries
Build a calendar app backend with recurring events, time zones and invitations
Implement a bytecode virtual machine with a garbage collector
Write a full integration test environment with Docker Compose and seeded databases
Implement a secure password manager with encryption, sync and browser extension
Build an e-commerce backend with catalogue, inventory, orders and admin endpoints
Implement a log-structured merge tree storage engine
Design and implement a multi-region active-active database replication strategy
Write a performance-critical matrix multiplication library with SIMD and benchmarks
Implement a full OAuth provider server with clients, scopes, tokens and revocation
Implement consistent hashing with virtual nodes and a rebalancing simulation
Create a CI/CD pipeline with build, test, security scanning, staging and production deploys
Write a parser and evaluator for spreadsheet formulas with error handling and tests
Build an analytics event ingestion service handling 100k events per second
Implement server-side rendering for our React app with data fetching and caching
Design and code a ride-sharing matching service with geospatial indexing
Implement a mini Git with commits, branches, diff and merge
Write a thorough security review of this authentication module and patch the vulnerabilities
Implement an actor framework with supervision trees
Build a code review bot that comments on pull requests using static analysis
Implement incremental compilation for our build tool with a dependency graph
Design a sharding strategy for our Postgres database and implement the routing layer
Implement a backup and restore system with incremental snapshots and encryption
Write a complete SDK for our REST API in TypeScript with retries, pagination and tests
Implement a streaming JSON parser that handles arbitrarily large inputs
Build a voice assistant pipeline with speech recognition, intent parsing and responses
Implement a customer support ticketing system with SLAs, assignment and reporting
`

const SNIPPET_GENERAL = `
What is the capital of Australia?
How many legs does a spider have?
Who wrote Pride and Prejudice?
What is the boiling point of water at sea level?
How many days are in a leap year?
What does HTTP status 404 mean?
What is the chemical symbol for gold?
Translate good morning into Spanish
How many minutes are in a day?
What is the largest planet in the solar system?
Who painted the Mona Lisa?
What is the square root of 144?
What year did the Second World War end?
What is the speed of light in vacuum?
Convert 5 kilometres to miles
What is the plural of mouse?
What is a synonym for happy?
How many continents are there?
What is the freezing point of water in Fahrenheit?
What is the currency of Japan?
Who was the first person to walk on the Moon?
What is the tallest mountain in the world?
What is the longest river in Africa?
How many bytes are in a kilobyte?
What does CPU stand for?
What does DNS stand for?
What port does HTTPS use by default?
What is 15 percent of 200?
Spell the word necessary
What is the opposite of ancient?
What language is spoken in Brazil?
How many players are on a football team?
What is the primary colour of chlorophyll?
What time zone is London in?
What is the smallest prime number?
What is the main ingredient of guacamole?
How many sides does a hexagon have?
Who discovered penicillin?
What is the capital of Canada?
What is the atomic number of carbon?
What is the default branch name in new GitHub repositories?
What does JSON stand for?
Define the word ephemeral
How do you say thank you in French?
What is the hottest planet in our solar system?
What is the largest ocean on Earth?
How many hours are in a week?
What is 12 times 12?
What is the capital of Germany?
What does RAM stand for?
Give me a one-word synonym for quick
What is the abbreviation for kilogram?
What is the past tense of run?
Who invented the telephone?
What is the capital of Italy?
How many centimetres are in an inch?
What does URL stand for?
What is the fastest land animal?
Summarise in one sentence what photosynthesis is
What is the national animal of Scotland?
`

const COMPLEX_GENERAL = `
Write a detailed business plan for a bakery including market analysis and financial projections
Compare the economic policies of three countries over the last decade and explain their outcomes
Explain the causes of the First World War and how they interacted
Write a 2000-word essay on the ethics of artificial intelligence
Plan a two-week itinerary through Japan with budgets, transport and reservations
Analyse the strengths and weaknesses of this research paper's methodology
Design a curriculum for a semester-long introductory statistics course
Explain quantum entanglement and its implications for computing, with examples
Draft a legal contract for a freelance software development engagement
Develop a marketing strategy for launching a new fitness app in three markets
Explain how the immune system responds to a new virus, step by step
Write a short story with three characters, a twist and a moral
Analyse the long-term effects of remote work on city economies
Create a training plan to run a marathon in 16 weeks with weekly schedules
Compare five database technologies for a high-write analytics workload and recommend one
Explain the derivation of the Black-Scholes formula
Write a persuasive speech about climate policy with counterarguments addressed
Design a nutrition plan for a diabetic athlete with daily meal plans
Evaluate the pros and cons of nuclear energy with data and sources
Explain how to prepare for a system design interview and work through an example
Translate and adapt this marketing brochure for a German audience with cultural notes
Write a grant proposal for a community solar project
Analyse this company's financial statements and assess its health
Design an experiment to test whether a new drug lowers blood pressure
Explain the history and philosophy of the scientific method
Develop a negotiation strategy for a salary discussion with several scenarios
Create a detailed onboarding plan for new engineers over their first 90 days
Compare the literary styles of Hemingway and Faulkner with examples
Write a policy brief on housing affordability with recommendations
Explain how large language models are trained, from data to deployment
Plan a wedding for 150 guests with a timeline, budget and vendor list
Analyse the game theory behind international trade agreements
Write a comprehensive guide to personal finance for someone starting their first job
Explain the proof of the fundamental theorem of calculus step by step
Design a city's public transport network for a population of one million
Critically review the arguments for and against universal basic income
Create a risk assessment for launching a product in a regulated industry
Explain how the internet routes a packet from my laptop to a server abroad in detail
Write a screenplay scene with dialogue between two rivals reconciling
Develop a study plan to learn machine learning from scratch in six months
Analyse the causes of the 2008 financial crisis and lessons learned
Design a loyalty programme for a coffee chain with economics modelled
Explain general relativity to a high-school student with analogies and equations
Compare three project management methodologies and recommend one for our team
Write a detailed review of a smartphone covering design, performance, camera and value
Create a disaster recovery plan for a mid-sized company
Explain the trade-offs of different voting systems with examples
Draft a strategy for reducing employee turnover using survey data
Write a research literature review on sleep and memory consolidation
Plan the migration of a company's email and documents to a new cloud provider
Analyse the themes of Shakespeare's Hamlet in depth
Create a fundraising campaign plan for a non-profit with goals and channels
Explain how vaccines are developed and approved, stage by stage
Design a board game with rules, components and balance considerations
Compare the healthcare systems of the UK, the US and Germany
Write a technical whitepaper on zero-trust networking
Develop a crisis communication plan for a data breach
Explain the mathematics behind public-key cryptography with a worked example
Plan a product roadmap for the next year with priorities and trade-offs
Write an investigative article outline on water pollution in a river basin
`

const lines = (block: string) => block.split("\n").map((line) => line.trim()).filter((line) => line.length > 0)

export const labelledPrompts: ReadonlyArray<LabelledPrompt> = [
  ...lines(TEMPLATE_CODE).map((text) => ({ text, tier: "TEMPLATE" as const, kind: "code" as const })),
  ...lines(SNIPPET_CODE).map((text) => ({ text, tier: "SNIPPET" as const, kind: "code" as const })),
  ...lines(COMPLEX_CODE).map((text) => ({ text, tier: "COMPLEX" as const, kind: "code" as const })),
  ...lines(SNIPPET_GENERAL).map((text) => ({ text, tier: "SNIPPET" as const, kind: "general" as const })),
  ...lines(COMPLEX_GENERAL).map((text) => ({ text, tier: "COMPLEX" as const, kind: "general" as const }))
]
