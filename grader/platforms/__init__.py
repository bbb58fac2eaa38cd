"""Course platforms: each module turns the grader into what one platform runs or reads (Gradescope's
autograder, an nbgrader course, GitHub Classroom's workflow, PrairieLearn's external grader, LMS gradebooks)."""
