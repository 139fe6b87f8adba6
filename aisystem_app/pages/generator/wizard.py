"""/generator: the wizard from a description to a running, tested application."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.job_progress import job_progress
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.generator.wizard import GeneratorState

S = GeneratorState


def stepper() -> rx.Component:
    return rx.hstack(
        rx.foreach(S.step_names, lambda name, i: rx.badge(
            rx.text(i + 1, ". ", name), variant=rx.cond(i == S.step, "solid", "soft"),
            color_scheme=rx.cond(i < S.step, "green", rx.cond(i == S.step, "blue", "gray")),
            class_name="wizard-step", data_active=rx.cond(i == S.step, "true", "false"))),
        wrap="wrap", spacing="2", id="wizard-steps")


def nav(next_button: rx.Component | None = None) -> rx.Component:
    return rx.hstack(
        rx.button("Back", variant="soft", color_scheme="gray", on_click=S.back, disabled=S.busy, id="wizard-back"),
        rx.spacer(), next_button or rx.fragment(), width="100%")


def error_line() -> rx.Component:
    return rx.cond(S.error != "", rx.callout(S.error, icon="triangle_alert", color_scheme="red", size="1",
                                             id="wizard-error"))


def describe() -> rx.Component:
    return rx.vstack(
        rx.heading("Describe the application", size="4"),
        rx.text("In plain words: what it shows or does, for whom, with which data.", size="2", color_scheme="gray"),
        rx.text_area(value=S.prompt, on_change=S.set_prompt, rows="4", width="100%", id="wizard-prompt",
                     aria_label="Description of the application"),
        rx.hstack(rx.spacer(), rx.button("Analyse", on_click=S.analyze, loading=S.busy, id="wizard-analyze"),
                  width="100%"),
        width="100%", spacing="3")


def labelled(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%")


def review() -> rx.Component:
    return rx.vstack(
        rx.heading("Review the analysis", size="4"),
        rx.text("Source: ", S.analysis_source, size="1", color_scheme="gray"),
        rx.grid(
            labelled("Application type", rx.select.root(
                rx.select.trigger(id="wizard-type"),
                rx.select.content(rx.foreach(S.type_options, lambda kv: rx.select.item(kv[1], value=kv[0]))),
                value=S.app_type, on_change=lambda v: S.set_field("app_type", v))),
            labelled("Name", rx.input(width="100%", value=S.app_name, on_change=lambda v: S.set_field("app_name", v), id="wizard-name")),
            labelled("Entities (comma-separated)", rx.input(width="100%", value=S.entities, id="wizard-entities",
                                                            on_change=lambda v: S.set_field("entities", v))),
            labelled("Features", rx.input(width="100%", value=S.features, id="wizard-features",
                                          on_change=lambda v: S.set_field("features", v))),
            labelled("Data sources", rx.input(width="100%", value=S.data_sources, on_change=lambda v: S.set_field("data_sources", v))),
            labelled("Expected daily users", rx.input(width="100%", value=S.expected_users, type="number", id="wizard-users",
                                                      on_change=lambda v: S.set_field("expected_users", v))),
            columns=rx.breakpoints(initial="1", md="2"), spacing="3", width="100%"),
        rx.text("Platform models that fit", size="2", weight="medium"),
        rx.cond(S.models.length() > 0,
                rx.vstack(rx.foreach(S.models, lambda m: rx.text(m["name"], " · ", m["source"], " · similarity ",
                                                                 m["score"], size="2", class_name="wizard-model")),
                          spacing="1"),
                rx.text("No catalog or marketplace model is close to the description.", size="2", color_scheme="gray")),
        rx.text("Open questions", size="2", weight="medium"),
        rx.vstack(rx.foreach(S.ambiguities, lambda q: rx.text(
            q["question"], " Assumed: ", q["assumed"], ". Options: ", q["options"], ".", size="2",
            class_name="wizard-question")), spacing="1"),
        error_line(),
        nav(rx.button("Choose the architecture", on_click=S.confirm_analysis, id="wizard-review-next")),
        width="100%", spacing="3")


def architecture_card(a: rx.Var) -> rx.Component:
    return rx.card(rx.vstack(
        rx.hstack(rx.radio_group.root(rx.radio_group.item(value=a["id"]), value=S.architecture,
                                      on_change=S.choose_architecture),
                  rx.text(a["name"], weight="bold"),
                  rx.cond(a["recommended"], rx.badge("Recommended", color_scheme="green")), align="center"),
        rx.text(a["description"], size="2"),
        rx.text(a["components"], size="1", color_scheme="gray"),
        rx.text(a["requirements"], size="2"),
        rx.text("Estimated ", a["cost"], size="2", weight="medium", class_name="arch-cost"),
        spacing="1"), class_name="arch-card", data_arch=a["id"], on_click=S.choose_architecture(a["id"]),
        cursor="pointer", width="100%")


def architecture() -> rx.Component:
    return rx.vstack(
        rx.heading("Choose the architecture", size="4"),
        rx.text("Sized for the expected daily users; costs are estimates from the platform's cost model.", size="2",
                color_scheme="gray"),
        rx.grid(rx.foreach(S.architectures, architecture_card), columns=rx.breakpoints(initial="1", md="3"),
                spacing="3", width="100%"),
        error_line(),
        nav(rx.button("Pick MCP tools", on_click=S.confirm_architecture, id="wizard-arch-next")),
        width="100%", spacing="3")


def tool_field(tool: rx.Var, field: rx.Var) -> rx.Component:
    control = rx.match(
        field["kind"],
        ("enum", rx.select.root(rx.select.trigger(), rx.select.content(
            rx.foreach(field["options"].to(list[str]), lambda o: rx.select.item(o, value=o))),
            value=field["value"].to(str), on_change=lambda v: S.set_tool_field(tool["id"], field["key"], v))),
        ("boolean", rx.select.root(rx.select.trigger(), rx.select.content(
            rx.select.item("Yes", value="true"), rx.select.item("No", value="false")),
            value=field["value"].to(str), on_change=lambda v: S.set_tool_field(tool["id"], field["key"], v))),
        rx.input(width="100%", value=field["value"].to(str), on_change=lambda v: S.set_tool_field(tool["id"], field["key"], v),
                 class_name="tool-input", data_key=field["key"]),
    )
    return rx.vstack(rx.text(field["title"], rx.cond(field["required"], " *", ""), size="1", weight="medium"),
                     control, rx.cond(field["help"] != "", rx.text(field["help"], size="1", color_scheme="gray")),
                     spacing="1", width="100%")


def tool_card(tool: rx.Var) -> rx.Component:
    return rx.card(rx.vstack(
        rx.hstack(rx.checkbox(checked=tool["chosen"].to(bool), on_change=lambda v: S.toggle_tool(tool["id"], v),
                              class_name="tool-check"),
                  rx.text(tool["name"], weight="bold"), align="center"),
        rx.text(tool["description"], size="1", color_scheme="gray"),
        rx.cond(tool["chosen"].to(bool), rx.grid(rx.foreach(tool["fields"].to(list[dict]), lambda f: tool_field(tool, f)),
                                                 columns="2", spacing="2", width="100%")),
        spacing="2", width="100%"), class_name="tool-card", data_tool=tool["id"], width="100%")


def tools() -> rx.Component:
    return rx.vstack(
        rx.heading("MCP tools", size="4"),
        rx.text("The tools the application's assistant integrations may use; the forms follow each tool's schema.",
                size="2", color_scheme="gray"),
        rx.grid(rx.foreach(S.tools, tool_card), columns=rx.breakpoints(initial="1", md="2"), spacing="3", width="100%"),
        error_line(),
        nav(rx.button("Review the file plan", on_click=S.confirm_tools, id="wizard-tools-next")),
        width="100%", spacing="3")


def plan_row(f: rx.Var) -> rx.Component:
    return rx.fragment(
        rx.table.row(rx.table.cell(rx.code(f["path"])), rx.table.cell(f["purpose"]), rx.table.cell(f["lines"]),
                     rx.table.cell(f["size"]),
                     rx.table.cell(rx.cond(f["diff"] != "", rx.link(f["change"], on_click=S.toggle_diff(f["path"]),
                                                                    cursor="pointer"), rx.text(f["change"]))),
                     class_name="plan-row", data_path=f["path"]),
        rx.cond(S.open_diff == f["path"], rx.table.row(rx.table.cell(
            rx.code_block(f["diff"], language="diff", width="100%"), col_span=5))))


def plan() -> rx.Component:
    return rx.vstack(
        rx.heading("File plan", size="4"),
        rx.text(S.plan_summary, size="2", id="plan-summary"),
        rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                                     ("File", "Purpose", "Lines", "Size", "Change")])),
                      rx.table.body(rx.foreach(S.plan_files, plan_row)), width="100%", id="plan-table"),
        error_line(),
        nav(rx.button("Generate", on_click=S.generate, loading=S.busy, id="wizard-generate")),
        width="100%", spacing="3")


def generating() -> rx.Component:
    return rx.vstack(
        rx.heading("Generating", size="4"),
        job_progress(S, title="Generation"),
        rx.vstack(rx.foreach(S.generation_steps, lambda s: rx.hstack(
            rx.badge(s["status"], color_scheme=rx.match(s["status"], ("Done", "green"), ("Running", "blue"),
                                                         ("Failed", "red"), "gray")),
            rx.text(s["name"], size="2"), class_name="gen-step", data_step=s["id"])), spacing="1"),
        error_line(),
        rx.cond(S.app.contains("status_raw") & (S.job_status == "failed"),
                rx.text(S.app["error"].to(str), color_scheme="red", size="2")),
        width="100%", spacing="3")


def results() -> rx.Component:
    return rx.vstack(
        rx.heading(S.app["name"].to(str), size="4"),
        rx.hstack(rx.badge(S.app["status"].to(str), id="app-status"),
                  rx.text(S.app["passed"].to(str), id="app-tests"),
                  rx.text("Coverage ", S.app["coverage"].to(str), id="app-coverage"),
                  rx.text(S.app["loc"].to(str), " lines of code", id="app-loc"),
                  rx.text("Generated in ", S.app["time"].to(str)), wrap="wrap", spacing="4"),
        rx.text(S.app["install"].to(str), size="2"),
        rx.cond(S.app["error"].to(str) != "", rx.callout(S.app["error"].to(str), color_scheme="red", size="1")),
        rx.grid(
            rx.vstack(rx.text("Files", weight="medium"),
                      rx.foreach(S.app["files"].to(list[str]), lambda p: rx.link(
                          p, on_click=S.open_file(p), cursor="pointer", size="2", class_name="app-file")),
                      spacing="1"),
            rx.vstack(rx.cond(S.file_path != "", rx.vstack(rx.code(S.file_path), rx.code_block(
                S.file_text, language="python", width="100%", id="file-view"), width="100%")),
                width="100%"),
            columns="1fr 3fr", spacing="4", width="100%"),
        rx.text("Tests", weight="medium"),
        rx.vstack(rx.foreach(S.app["tests"].to(list[dict]), lambda t: rx.text(
            t["outcome"], " · ", t["name"], size="1", class_name="app-test")), spacing="0"),
        error_line(),
        rx.hstack(rx.button("Back to the plan", variant="soft", color_scheme="gray", on_click=S.back),
                  rx.spacer(), rx.button("Start over", variant="soft", on_click=S.start_over),
                  rx.button("Deploy", on_click=S.to_deploy, id="wizard-to-deploy"), width="100%"),
        width="100%", spacing="3")


def deploy_step() -> rx.Component:
    return rx.vstack(
        rx.heading("Deploy and open", size="4"),
        rx.text("Runs the application as a local process on a free port and checks its health.", size="2",
                color_scheme="gray"),
        rx.hstack(rx.text("Status: "), rx.badge(S.deploy_status, id="deploy-status"), align="center"),
        rx.cond(S.deploy_health != "", rx.text(S.deploy_health, size="2", id="deploy-health")),
        rx.cond(S.deploy_url != "", rx.link("Open ", S.deploy_url, href=S.deploy_url, is_external=True,
                                             id="deploy-url")),
        error_line(),
        rx.hstack(rx.button("Back", variant="soft", color_scheme="gray", on_click=S.back),
                  rx.spacer(),
                  rx.button("Start", on_click=S.deploy("start"), loading=S.busy, id="deploy-start"),
                  rx.button("Restart", variant="soft", on_click=S.deploy("restart"), loading=S.busy),
                  rx.button("Stop", variant="soft", color_scheme="red", on_click=S.deploy("stop"), loading=S.busy,
                            id="deploy-stop"), width="100%"),
        width="100%", spacing="3")


@protected_page(routes.GENERATOR, "App generator", on_load=[S.load])
def wizard() -> rx.Component:
    return rx.vstack(
        page_header("From a description to a running, tested application that uses the platform's models."),
        stepper(),
        rx.card(rx.match(S.step, (0, describe()), (1, review()), (2, architecture()), (3, tools()), (4, plan()),
                         (5, generating()), (6, results()), (7, deploy_step()), describe()), width="100%"),
        width="100%", spacing="4")
